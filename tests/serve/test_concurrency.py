"""Concurrent turns on one session: every acknowledged turn is stored once, in order.

``SessionStore.append`` numbers a turn from the loaded session, so two requests racing on one
session would both claim turn n + 1. The server serialises a session's turns in a process and
retries across processes (two apps on one database stand in for two worker processes).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI
from tests.serve.conftest import Keys, LiveServer

from finassist.config import Settings
from finassist.serve import ServerOptions, create_app

QUESTIONS = (
    "远航汽配的风险",
    "他们还有哪些应收发票没付？",
    "他们的现金流怎么样",
    "他们前五大客户占比多少",
)


def ask(url: str, key: str, session: str, text: str) -> tuple[int, int]:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Session-Id": session},
        json={"model": "finassist", "messages": [{"role": "user", "content": text}]},
        timeout=60,
    )
    return response.status_code, response.json()["finassist"][
        "turn_seq"
    ] if response.status_code == 200 else -1


def test_concurrent_turns_on_one_session_all_stored(
    app: FastAPI, keys: Keys, settings: Settings
) -> None:
    # A second app on the same database behaves like a second worker process (its own locks).
    other = create_app(settings, options=ServerOptions(rate_per_minute=0))
    with LiveServer(app) as first, LiveServer(other) as second:
        session = app.state.server.sessions.create("M001").id
        jobs = [
            ((first, second)[i % 2].url, keys.m1, session, QUESTIONS[i % len(QUESTIONS)])
            for i in range(16)
        ]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda job: ask(*job), jobs))
    assert [status for status, _ in results] == [200] * 16
    history = app.state.server.sessions.history(session)
    assert [t.seq for t in history] == list(range(1, 17))
    assert sorted(seq for _, seq in results) == list(range(1, 17))
