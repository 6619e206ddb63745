"""The one database handle: a read-write engine, a read-only engine, migrations and checks.

>>> db = Database("sqlite:////tmp/finassist-doc.db")   # doctest: +SKIP
>>> db.migrate()                                       # doctest: +SKIP
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.pool import QueuePool

from finassist.config import Settings
from finassist.errors import AccessDenied, ConfigError, DatabaseUnavailable, SchemaVersionError
from finassist.store import schema

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 8  # connections kept open per engine (per process)
SQLITE_POOL_OVERFLOW = 56  # more may open under load; they are closed when returned


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


class Database:
    """SQLAlchemy engines for one database URL (SQLite, PostgreSQL or MySQL/MariaDB).

    ``engine`` writes; ``read_engine`` is read-only at the connection level (SQLite opened with
    ``mode=ro``, PostgreSQL and MySQL sessions set to read-only), and is what tools query through.
    Nothing connects until first use.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(f"数据库地址无法识别：{url}") from exc
        self.url = url
        self.dialect = parsed.get_backend_name()
        self._sqlite_writer = threading.RLock()
        try:
            self.engine = self._make_engine(read_only=False, echo=echo)
            self.read_engine = self._make_engine(read_only=True, echo=echo)
        except NoSuchModuleError as exc:
            raise ConfigError(f"不支持的数据库类型：{parsed.drivername}") from exc
        except ModuleNotFoundError as exc:
            raise ConfigError(f"缺少数据库驱动 {exc.name}，请安装后重试。") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database the settings name; creates ``home`` for the SQLite default."""
        if not settings.database_url:
            settings.home.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url_resolved(), echo=settings.echo_sql)

    def _make_engine(self, *, read_only: bool, echo: bool) -> Engine:
        if self.dialect == "sqlite":
            return self._make_sqlite_engine(read_only=read_only, echo=echo)
        engine = create_engine(self.url, echo=echo, pool_pre_ping=True)
        if read_only:
            statement = (
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
                if self.dialect == "postgresql"
                else "SET SESSION TRANSACTION READ ONLY"
            )

            @event.listens_for(engine, "connect")
            def _read_only(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute(statement)
                cursor.close()
                if self.dialect == "postgresql":
                    dbapi_conn.commit()

        return engine

    def _make_sqlite_engine(self, *, read_only: bool, echo: bool) -> Engine:
        path = _sqlite_path(self.url)
        if path is None:
            raise ConfigError("SQLite 需要一个文件路径，例如 sqlite:///path/finassist.db")

        def connect() -> sqlite3.Connection:
            if read_only:
                if not path.exists():
                    raise sqlite3.OperationalError(f"数据库文件不存在：{path}")
                conn = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
                )
            else:
                conn = sqlite3.connect(str(path), check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                # WAL's recommended setting: a commit is not flushed to disk on its own (the WAL
                # is synced at checkpoints), which takes two fsyncs off every stored turn. The
                # file stays consistent; a power cut may lose the last turns, a crash nothing.
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn

        # Connections are pooled: opening one costs a few PRAGMAs, and closing the last one to a
        # WAL database checkpoints and deletes the WAL (an fsync), several times per chat turn
        # with one connection per use. A pooled connection serves one thread at a time.
        return create_engine(
            "sqlite://",
            creator=connect,
            echo=echo,
            poolclass=QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_OVERFLOW,
        )

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction: committed on success, rolled back on any error.

        On SQLite, the writers of one process take turns on a lock first: SQLite admits one
        writer at a time and makes the others poll with growing sleeps (up to 100 ms each),
        which under concurrent chat turns put a long tail on the latency."""
        with self._write_turn(), self._translate_errors(), self.engine.begin() as conn:
            yield conn

    def _write_turn(self) -> Any:
        return self._sqlite_writer if self.dialect == "sqlite" else nullcontext()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection for fixed, parameterised queries."""
        with self._translate_errors(), self.read_engine.connect() as conn:
            yield conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            if _is_missing_table(exc):
                raise SchemaVersionError(
                    "数据库尚未初始化或版本不符，请先运行 `finassist db init`。"
                ) from exc
            if _is_read_only_violation(exc):
                raise AccessDenied("只读连接不允许写入数据库。") from exc
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                raise DatabaseUnavailable(
                    f"无法连接数据库（{self.safe_url()}）：{_first_line(exc.orig)}"
                ) from exc
            raise

    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    # -- schema --------------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine
        return cfg

    def head_revision(self) -> str:
        """The newest migration this code knows."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        """The migration the database is at, or None for an empty database."""
        from alembic.runtime.migration import MigrationContext

        with self._translate_errors(), self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creates it in an empty database)."""
        from alembic import command

        with self._translate_errors():
            command.upgrade(self._alembic_config(), "head")

    def ensure_schema(self) -> None:
        """Create the schema in an empty database or upgrade an older one; no-op when current.

        What ``db seed``, ``kb ingest``, ``serve`` and ``demo`` call first, so a fresh home needs
        no separate ``db init``.
        """
        if self.current_revision() != self.head_revision():
            self.migrate()

    def check_schema(self) -> None:
        """Raise :class:`SchemaVersionError` unless the database is at the newest migration."""
        current = self.current_revision()
        head = self.head_revision()
        if current is None:
            raise SchemaVersionError("数据库尚未初始化，请先运行 `finassist db init`。")
        if current != head:
            raise SchemaVersionError(
                f"数据库结构版本为 {current}，程序需要 {head}。"
                "请备份后运行 `finassist db init` 升级到最新版本。"
            )

    def table_counts(self) -> dict[str, int]:
        """Row count of every table in the schema."""
        with self.read() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in schema.metadata.tables.items()
                if name in present
            }

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table, or None."""
        with self.read() as conn:
            return conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == key)
            ).scalar_one_or_none()

    def data_as_of(self) -> date | None:
        """The date the sample data was generated for (its "today"), if recorded."""
        value = self.get_meta("as_of")
        return date.fromisoformat(value) if value else None

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
        self.read_engine.dispose()


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "未知错误"


_MISSING_TABLE_MARKERS = ("no such table", "table '", 'relation "')


def _is_missing_table(exc: DBAPIError) -> bool:
    """SQLite: no such table; MySQL: Table 'x' doesn't exist; PostgreSQL: relation "x" does not."""
    text = str(exc.orig).lower()
    return ("no such table" in text) or (
        ("doesn't exist" in text or "does not exist" in text)
        and any(marker in text for marker in _MISSING_TABLE_MARKERS[1:])
    )


def _is_read_only_violation(exc: DBAPIError) -> bool:
    """SQLite: attempt to write a readonly database; PostgreSQL/MySQL: read-only transaction."""
    text = str(exc.orig).lower()
    return "readonly database" in text or "read-only transaction" in text or "read only" in text
