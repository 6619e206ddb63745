"""Fixtures for the server: a private copy of the sample database, apps, keys, a live server."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finassist.config import Settings
from finassist.serve import ServerOptions, create_app
from finassist.serve.keys import ApiKeyStore
from finassist.store import Database


def copy_sample(sample_db: Database, target: Path) -> Path:
    """A consistent copy of the seeded sample (the SQLite backup API includes the WAL), without
    the conversations other tests left in the shared sample: each server test starts clean."""
    source = sqlite3.connect(sample_db.url.removeprefix("sqlite:///"))
    dest = sqlite3.connect(target)
    with dest:
        source.backup(dest)
    with dest:
        dest.execute("DELETE FROM ratings")
        dest.execute("DELETE FROM turns")
        dest.execute("DELETE FROM sessions")
    source.close()
    dest.close()
    return target


@pytest.fixture
def home(tmp_path: Path, sample_db: Database) -> Path:
    """A FINASSIST_HOME holding a fresh copy of the seeded sample database."""
    copy_sample(sample_db, tmp_path / "finassist.db")
    return tmp_path


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)


@dataclass
class Keys:
    """Keys for the tests: M001 and M002 (relationship managers) and A001 (admin)."""

    m1: str
    m2: str
    admin: str

    @staticmethod
    def header(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def make_keys(db: Database) -> Keys:
    store = ApiKeyStore(db)
    return Keys(store.create("M001").key, store.create("M002").key, store.create(admin=True).key)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings, options=ServerOptions(rate_per_minute=0))


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    return make_keys(app.state.server.db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on loopback in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


LiveFactory = Callable[[FastAPI], LiveServer]
