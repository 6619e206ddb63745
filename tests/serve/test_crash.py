"""Kill the server (SIGKILL) under load, restart it: every acknowledged turn is still there and
the database is consistent (integrity check, no gaps in any session's turn numbers)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.serve.conftest import free_port

from finassist.serve.keys import ApiKeyStore
from finassist.store import Database

QUESTIONS = (
    "远航汽配的风险",
    "他们还有哪些应收发票没付？",
    "他们的现金流怎么样",
    "给他们推荐一个融资产品",
)


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    env.update(FINASSIST_HOME=str(home), FINASSIST_SERVE_RATE_PER_MINUTE="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "finassist.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            raise RuntimeError(
                process.stderr.read().decode() if process.stderr else "server exited"
            )
    process.kill()
    raise RuntimeError("server did not start")


def client_loop(
    url: str, key: str, acked: list[tuple[str, int, str]], stop: threading.Event
) -> None:
    session = None
    with httpx.Client(timeout=30) as http:
        for n in range(1000):
            if stop.is_set():
                return
            headers = {"Authorization": f"Bearer {key}"} | (
                {"X-Session-Id": session} if session else {}
            )
            body = {
                "model": "finassist",
                "messages": [{"role": "user", "content": QUESTIONS[n % 4]}],
            }
            try:
                response = http.post(f"{url}/v1/chat/completions", headers=headers, json=body)
            except httpx.TransportError:
                return  # the server died mid-request: this turn was never acknowledged
            if response.status_code != 200:
                return
            extra = response.json()["finassist"]
            session = extra["session_id"]
            acked.append(
                (session, extra["turn_seq"], response.json()["choices"][0]["message"]["content"])
            )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_under_load_loses_no_acknowledged_turn(home: Path) -> None:
    db_path = home / "finassist.db"
    key = ApiKeyStore(Database(f"sqlite:///{db_path}")).create("M001").key
    port = free_port()
    server = start_server(home, port)
    acked: list[tuple[str, int, str]] = []
    stop = threading.Event()
    clients = [
        threading.Thread(target=client_loop, args=(f"http://127.0.0.1:{port}", key, acked, stop))
        for _ in range(6)
    ]
    try:
        for c in clients:
            c.start()
        deadline = time.monotonic() + 30
        while len(acked) < 24 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.send_signal(signal.SIGKILL)  # mid-flight: some requests are being answered
        server.wait(timeout=10)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=30)
        if server.poll() is None:
            server.kill()
    assert len(acked) >= 24

    restarted = start_server(home, port)
    try:
        for session, seq, text in acked:
            turns = httpx.get(
                f"http://127.0.0.1:{port}/api/sessions/{session}/turns",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()["data"]
            assert {t["seq"]: t["reply_text"] for t in turns}[seq] == text
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)

    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for (session,) in conn.execute("SELECT DISTINCT session_id FROM turns"):
            seqs = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM turns WHERE session_id=? ORDER BY seq", (session,)
                )
            ]
            assert seqs == list(range(1, len(seqs) + 1))
        orphans = conn.execute(
            "SELECT count(*) FROM turns t LEFT JOIN sessions s ON s.id = t.session_id WHERE s.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        conn.close()
