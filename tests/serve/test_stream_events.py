"""``serve/streaming.py`` on its own: a turn in a worker thread, its released text as chunks,
and the ways a turn can end (no server, no model: the turn is a function)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from finassist.assistant.release import listener
from finassist.errors import AccessDenied
from finassist.serve.chat import EXTRA_FIELD
from finassist.serve.streaming import LiveEvents, TurnStream


def body(text: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        EXTRA_FIELD: {"session_id": "s1", "turn_seq": 1},
    }


def events(turn: Any) -> list[Any]:
    async def read() -> list[str]:
        stream = TurnStream(turn)
        out = LiveEvents(stream, await stream.opening(), model="finassist", include_usage=False)
        return [e async for e in out]

    return [e.removeprefix("data: ").strip() for e in asyncio.run(read())]


def test_released_text_then_the_rest_of_the_stored_text() -> None:
    def turn() -> dict[str, Any]:
        heard = listener()
        assert heard is not None
        heard.on_start("s1")
        heard.on_text("第一句。")
        return body("第一句。\n（附注）")

    sent = events(turn)
    assert sent[-1] == "[DONE]"
    chunks = [json.loads(e) for e in sent[:-1]]
    texts = [c["choices"][0]["delta"].get("content") for c in chunks]
    assert texts == ["", "第一句。", "\n（附注）", None]
    assert chunks[-1][EXTRA_FIELD]["session_id"] == "s1"


def test_an_error_before_any_text_is_raised_for_an_http_status() -> None:
    def turn() -> dict[str, Any]:
        raise AccessDenied("无权访问该会话。")

    with pytest.raises(AccessDenied):
        asyncio.run(TurnStream(turn).opening())


def test_an_error_after_text_ends_the_stream_with_an_error_event() -> None:
    def turn() -> dict[str, Any]:
        heard = listener()
        assert heard is not None
        heard.on_text("第一句。")
        raise AccessDenied("无权访问该会话。")

    sent = events(turn)
    assert json.loads(sent[-1])["error"]["message"] == "无权访问该会话。"
    assert "[DONE]" not in sent


def test_a_turn_asked_again_after_text_went_out_is_not_spliced() -> None:
    def turn() -> dict[str, Any]:
        heard = listener()
        assert heard is not None
        heard.on_start("s1")
        heard.on_text("甲。")
        heard.on_start("s1")  # another worker stored this turn first: asked again
        heard.on_text("乙。")
        return body("乙。")

    sent = events(turn)
    assert not any("乙" in e for e in sent)
    assert json.loads(sent[-1])["error"]["code"] == "turn_retried"
