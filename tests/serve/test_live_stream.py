"""Real streaming of model answers: the official openai SDK (``stream=True``) against uvicorn
on loopback, whose assistant's model is the loopback OpenAI-compatible server. The model's
stream pauses after its first sentence until the test has seen that sentence arrive: the client
gets it while the model is still writing. A sentence the guard rejects never reaches the client,
and what was streamed is the text stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import openai
import pytest
from tests.llm.openai_server import chunk, openai_server
from tests.serve.conftest import Keys, LiveServer, make_keys

from finassist.config import Settings
from finassist.serve import ServerOptions, create_app

QUESTION = "远航汽配还有哪些应收发票没付？"
FIRST = "宁波远航汽车零部件有限公司目前仍有未付的应收发票[1]。"
INVENTED = "其中最大一张金额为 98,765,432.10 元[1]。"
LAST = "具体明细请以系统记录为准。"


def tokens(text: str, size: int = 3) -> list[dict[str, Any]]:
    """``text`` as stream chunks of a few characters, as a model writes it."""
    return [chunk({"content": text[i : i + size]}) for i in range(0, len(text), size)]


@pytest.fixture
def model() -> Iterator[Any]:
    with openai_server() as server:
        yield server


@pytest.fixture
def served(home: Path, model: Any) -> Iterator[tuple[LiveServer, Keys]]:
    settings = Settings(
        home=home,
        models={"m": {"backend": "openai", "base_url": model.url, "model": "q", "max_retries": 0}},
    )
    app = create_app(settings, options=ServerOptions(rate_per_minute=0))
    keys = make_keys(app.state.server.db)
    with LiveServer(app) as live:
        yield live, keys


def test_sdk_gets_each_checked_sentence_while_the_model_is_still_writing(
    served: tuple[LiveServer, Keys], model: Any
) -> None:
    live, keys = served
    gate = threading.Event()
    model.script.append(
        (
            "sse",
            [
                chunk({"role": "assistant", "content": ""}),
                *tokens(FIRST + "\n"),
                *tokens("其中最大"),  # an unfinished sentence is held until it is complete
                gate,
                *tokens(INVENTED[4:] + LAST),
                chunk({}, "stop"),
            ],
        )
    )
    sdk = openai.OpenAI(base_url=f"{live.url}/v1", api_key=keys.m1, max_retries=0, timeout=30)
    raw = sdk.chat.completions.with_raw_response.create(
        model="finassist", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    session = raw.headers["x-session-id"]
    pieces: list[str] = []
    seen_during_pause: list[str] = []
    chunks = list[Any]()
    for part in raw.parse():
        chunks.append(part)
        text = part.choices[0].delta.content if part.choices else None
        if text:
            if not gate.is_set():
                seen_during_pause.append(text)
                gate.set()  # the model may go on only after the client saw the first sentence
            pieces.append(text)
    assert model.stalled == 0  # the model never waited in vain: text reached the client first
    assert seen_during_pause == [FIRST]
    streamed = "".join(pieces)
    # the invented sentence never went out; the guard's note names what it left out
    assert streamed.startswith(FIRST + "\n" + LAST) and "最大一张金额" not in streamed
    assert streamed.endswith("（以下内容未能在证据中核实，已省略：98,765,432.10）")
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    extra = final.model_extra["finassist"]
    assert extra["session_id"] == session and extra["unverified"] == ["98,765,432.10"]
    turns = httpx.get(
        f"{live.url}/api/sessions/{session}/turns", headers=Keys.header(keys.m1)
    ).json()
    assert [t["reply_text"] for t in turns["data"]] == [streamed]


def test_wire_format_is_openai_server_sent_events(
    served: tuple[LiveServer, Keys], model: Any
) -> None:
    live, keys = served
    model.script.append(("sse", [*tokens(FIRST), chunk({}, "stop")]))
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json={
            "model": "finassist",
            "messages": [{"role": "user", "content": QUESTION}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers=Keys.header(keys.m1),
        timeout=30,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])
    assert '"usage"' in events[-3] and '"finish_reason": "stop"' in events[-4]


POOL = 2  # the server's thread pool, cut down from anyio's 40 so that a few streams fill it


class NarrowPool:
    """ASGI middleware: the server's thread pool (``def`` routes, dependencies) at ``tokens``."""

    def __init__(self, app: Any, tokens: int) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.tokens
        await self.app(scope, receive, send)


def test_streams_waiting_for_the_model_leave_the_server_free(home: Path, model: Any) -> None:
    """More streams wait for the model than the pool has threads, yet every other request is
    answered meanwhile; then each stream ends with the text stored."""
    settings = Settings(
        home=home,
        models={"m": {"backend": "openai", "base_url": model.url, "model": "q", "max_retries": 0}},
    )
    app = create_app(settings, options=ServerOptions(rate_per_minute=0))
    app.add_middleware(NarrowPool, tokens=POOL)
    keys = make_keys(app.state.server.db)
    gate = threading.Event()
    for _ in range(POOL + 1):
        model.script.append(
            ("sse", [*tokens(FIRST + "\n"), gate, *tokens(LAST), chunk({}, "stop")])
        )
    ask = {
        "model": "finassist",
        "messages": [{"role": "user", "content": QUESTION}],
        "stream": True,
    }
    with (
        LiveServer(app) as live,
        httpx.Client(base_url=live.url, headers=Keys.header(keys.m1), timeout=30) as http,
        ExitStack() as open_streams,
    ):
        streams = []
        for _ in range(POOL + 1):  # each answers with its first sentence; the model then pauses
            response = open_streams.enter_context(
                http.stream("POST", "/v1/chat/completions", json=ask)
            )
            assert response.status_code == 200
            events = response.iter_lines()
            assert FIRST in next(e for e in events if FIRST in e or "[DONE]" in e)
            streams.append((response.headers["x-session-id"], events))
        # All of them wait for the model: a plain route and an authenticated one still answer.
        assert http.get("/api/health").status_code == 200
        assert http.get("/api/sessions").status_code == 200
        gate.set()
        for session, events in streams:
            rest = [e for e in events if e]
            assert rest[-1] == "data: [DONE]"
            stored = http.get(f"/api/sessions/{session}/turns").json()["data"]
            assert stored[0]["reply_text"].startswith(FIRST + "\n" + LAST)
    # Held pool threads show here: the third stream could only start once the model gave up
    # waiting at the gate, and the other two's pauses timed out.
    assert model.stalled == 0
