"""Embedding uploaded documents in the background: one worker thread per server process.

An upload is stored and indexed for BM25 inside the request, so it is searchable when the
response arrives; its vectors are computed afterwards by :class:`EmbeddingWorker`, which calls
``KnowledgeBase.embed_pending`` (batched, committed every few hundred chunks). Meanwhile the
hybrid search fuses the vectors that exist with BM25 over every chunk. Embedding a 200-page PDF
takes minutes on a laptop CPU: inside the request it held the caller and a pool thread that long.

The worker starts with the app and first embeds whatever an earlier run left without a vector
(a crash or a stop loses at most the batch in flight), then sleeps until an upload wakes it.
With several processes (``serve --workers N``) a lock file under the home lets one of them embed
at a time; a process that finds the lock taken tries again after ``poll_s``.

>>> worker = EmbeddingWorker(kb, home / "kb_embedding.lock")     # doctest: +SKIP
>>> worker.wake()                   # after an upload; returns at once
>>> worker.status()["state"]
'embedding'
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("finassist.serve")
POLL_S = 30.0  # how soon a process locked out by another one's embedding tries again
STOP_WAIT_S = 10.0
STATES = ("off", "idle", "embedding", "waiting", "failed")


class _Stopped(Exception):
    """Raised from the progress callback to leave ``embed_pending`` between batches."""


@dataclass
class _Run:
    state: str = "idle"
    done: int = 0  # chunks embedded so far in the current run
    todo: int = 0  # chunks the current run embeds
    error: str | None = None


class EmbeddingWorker:
    """Embeds the knowledge base's chunks that have no vector, in a background thread.

    ``engine`` is a ``finassist.kb.KnowledgeBase`` (its ``embedder`` None: nothing to do, state
    ``off``); ``lock_path`` the file that keeps two processes from embedding at once (None: no
    lock). :meth:`wake` never blocks; :meth:`status` says what the thread is doing.
    """

    def __init__(self, engine: Any, lock_path: Path | None, *, poll_s: float = POLL_S) -> None:
        self.engine = engine
        self.lock_path = lock_path
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()  # set when nothing is missing (or the last run failed)
        self._idle.set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run = _Run(state="off" if engine.embedder is None else "idle")

    @property
    def enabled(self) -> bool:
        """Whether there is an embedder (else the knowledge base is BM25 only)."""
        return self.engine.embedder is not None

    def wake(self) -> None:
        """Embed what is missing soon (starting the thread on first use)."""
        if not self.enabled:
            return
        with self._guard:
            if self._stop.is_set():
                return
            self._idle.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="finassist-embedding", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every chunk has a vector (or the last run failed); False on timeout."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop after the batch in flight (its committed work stays) and wait for the thread."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status(self) -> dict[str, Any]:
        """``state`` (off / idle / embedding / waiting / failed) and the current run's progress."""
        run = self._run
        return {"state": run.state, "done": run.done, "todo": run.todo, "error": run.error}

    # -- the thread ------------------------------------------------------------------------------

    def _loop(self) -> None:
        retry = False
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll_s if retry else None)
            if self._stop.is_set():
                return
            if woken:
                self._wake.clear()
            retry = not self._embed_all()
            with self._guard:  # an upload during the run woke the thread again: not idle
                if not retry and not self._wake.is_set():
                    self._idle.set()

    def _embed_all(self) -> bool:
        """Embed until nothing is missing; False when another process holds the lock."""
        with _ProcessLock(self.lock_path) as held:
            if not held:
                self._run = _Run(state="waiting")
                return False
            self._run = _Run(state="embedding")
            try:
                # An upload during a run is embedded by the next one.
                while not self._stop.is_set() and self.engine.embed_pending(self._progress):
                    pass
            except _Stopped:
                return True
            except Exception as exc:  # the server keeps serving (BM25); the state says why
                log.warning("background embedding failed", exc_info=True)
                self._run = _Run(state="failed", error=str(exc) or type(exc).__name__)
                return True
        self._run = _Run(state="idle")
        return True

    def _progress(self, _label: str, done: int, total: int) -> None:
        if self._stop.is_set():
            raise _Stopped
        self._run = _Run(state="embedding", done=done, todo=total)


class _ProcessLock:
    """An exclusive, non-blocking lock on a file, released when the process dies."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: BinaryIO | None = None

    def __enter__(self) -> bool:
        if self.path is None:
            return True
        try:
            import fcntl
        except ImportError:  # Windows: one process per home is the supported setup there
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def __exit__(self, *_exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None
