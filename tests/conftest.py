"""Shared fixtures: a fresh database on SQLite, PostgreSQL or MariaDB, and the seeded sample data.

PostgreSQL and MySQL/MariaDB are reached through ``FINASSIST_TEST_POSTGRES_URL`` and
``FINASSIST_TEST_MYSQL_URL`` (an admin URL; each test session creates and drops its own
database). Without them, or with the server down, those cases are skipped, unless
``FINASSIST_TEST_REQUIRE_SERVERS=1`` (set by CI), which makes them fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from finassist.store import Database

SERVER_ENV = {
    "postgresql": "FINASSIST_TEST_POSTGRES_URL",
    "mysql": "FINASSIST_TEST_MYSQL_URL",
}
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.integration),
    pytest.param("mysql", marks=pytest.mark.integration),
]


def _unavailable(reason: str) -> None:
    if os.environ.get("FINASSIST_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def server_database() -> Iterator[object]:
    """A factory: ``make(kind)`` returns the URL of a new, empty database on that server."""
    created: list[tuple[str, str, str]] = []

    def make(kind: str) -> str:
        admin_url = os.environ.get(SERVER_ENV[kind])
        if not admin_url:
            _unavailable(f"{SERVER_ENV[kind]} is not set")
        name = f"finassist_test_{uuid.uuid4().hex[:10]}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if kind == "mysql":
                    conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
                else:
                    conn.execute(text(f"CREATE DATABASE {name}"))
        except Exception as exc:
            _unavailable(f"{kind} server not reachable: {exc}")
        finally:
            engine.dispose()
        created.append((kind, admin_url, name))
        url = make_url(admin_url).set(database=name)
        if kind == "mysql":
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url.render_as_string(hide_password=False)

    yield make

    for kind, admin_url, name in created:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


def new_database_url(kind: str, tmp_dir: Path, server_database: object) -> str:
    """A URL of a new, empty database of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_dir / f'{uuid.uuid4().hex[:8]}.db'}"
    return server_database(kind)  # type: ignore[operator]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path, server_database: object) -> str:
    """A new, empty database on each backend in turn (the contract tests run three times)."""
    return new_database_url(request.param, tmp_path, server_database)


def _seeded(url: str) -> Database:
    from finassist.store.seed import seed_database

    db = Database(url)
    db.migrate()
    seed_database(db, seed=42, scale=1)
    return db


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The seeded sample data on SQLite, shared by the tests that only read it."""
    db = _seeded(f"sqlite:///{tmp_path_factory.mktemp('sample') / 'sample.db'}")
    yield db
    db.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def seeded_backend(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    server_database: object,
) -> Iterator[Database]:
    """The seeded sample data on each backend in turn (session-scoped: seeded once each)."""
    if request.param == "sqlite":
        yield _sample_for_sqlite(request)
        return
    db = _seeded(new_database_url(request.param, tmp_path_factory.mktemp("x"), server_database))
    yield db
    db.dispose()


def _sample_for_sqlite(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue("sample_db")
