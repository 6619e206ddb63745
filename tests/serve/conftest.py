"""Fixtures for the server: a private copy of the sample database, apps, keys, a live server,
and a slow fake embedding model held at a gate the test opens."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finassist.config import Settings
from finassist.embed import EMBEDDERS, register_embedder
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
        kb = self.server.config.app.state.server.kb.service
        if kb is not None:
            kb.close()  # lifespan is off: stop the background embedding here


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


LiveFactory = Callable[[FastAPI], LiveServer]


# -- a slow embedding model, held at a gate the test opens ----------------------------------

WAIT_S = 60.0  # a bound on waiting for the worker, so a regression fails instead of hanging
DOC_NAME = "冷链仓单指引.md"
# Ten articles about cold-chain warehouse receipts; "冷藏" (the question's word) is in none.
DOC = "# 冷链仓单质押业务指引\n\n" + "".join(
    f"## 第{n}条\n冷链仓储监管方应当按日核对冷链货物的温度记录，编号{n}号仓位。\n\n"
    for n in range(1, 11)
)
SYNONYMS = ("冷链", "冷藏")  # the fake model's first dimension: the two words mean the same
QUESTION = "冷藏"


class Crash(BaseException):
    """The process dying mid-embedding (not an error the worker could catch)."""


class GatedEmbedder:
    """A fake model: cold-chain words on one dimension, everything else on the other.

    While ``gate`` is closed, embedding a cold-chain passage waits for it (``reached`` is set),
    as a slow model would; ``crash_after`` passages in, it dies like a killed process.
    """

    dim = 2

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.crash_after: int | None = None
        self.passages = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        m = np.asarray([[sum(t.count(w) for w in SYNONYMS), 0.01] for t in texts], np.float32)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: Any = None
    ) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            if any(w in t for t in batch for w in SYNONYMS):
                self.reached.set()
                if not self.gate.wait(WAIT_S):
                    raise RuntimeError("the test never opened the gate")
            if self.crash_after is not None and self.passages + len(batch) > self.crash_after:
                raise Crash
            self.passages += len(batch)
            out.append(self._vectors(batch))
            if progress is not None:
                progress(start + len(batch), len(texts))
        return np.vstack(out)


@pytest.fixture
def gated() -> Iterator[dict[str, GatedEmbedder]]:
    made: dict[str, GatedEmbedder] = {}

    def loader(path: str, *, threads: int | None = None) -> GatedEmbedder:
        made[path] = GatedEmbedder(f"gated:{path}")
        return made[path]

    register_embedder("gated")(loader)
    yield made
    for model in made.values():
        model.gate.set()  # no worker thread is left waiting
    EMBEDDERS.pop("gated")


def gated_app(home: Path, model: str = "gated:a") -> FastAPI:
    settings = Settings(home=home, kb={"embedder": model, "hybrid": True, "min_similarity": -1})
    return create_app(settings, options=ServerOptions(rate_per_minute=0))
