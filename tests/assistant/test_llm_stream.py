"""A model turn streamed sentence by sentence (``assistant/release.py``), with the scripted
backend (it streams one character at a time): only guard-accepted sentences are released, and
what was released is the reply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from finassist.assistant import Assistant
from finassist.assistant.llm_turn import REFUSE_PROMPT, SYSTEM_PROMPT
from finassist.assistant.release import Listener, SentenceRelease, streaming
from finassist.assistant.types import Reply
from finassist.config import Settings
from finassist.llm.router import Router
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import Message, ModelUnavailable, StreamChunk, ToolCall
from finassist.nlp.intent import IntentRouter
from finassist.runtime import build_assistant
from finassist.store import Database

CASHFLOW = "华东汽车近12个月的现金流怎么样？"


def assistant(db: Database, backend: Any) -> Assistant:
    return build_assistant(
        Settings(), db=db, intents=IntentRouter.rules_only(), backend=backend, web=None
    )


def streamed(bot: Assistant, question: str) -> tuple[Reply, list[str], list[str]]:
    pieces: list[str] = []
    starts: list[str] = []
    with streaming(Listener(pieces.append, starts.append)):
        reply = bot.ask(question, manager_id="M001")
    return reply, pieces, starts


def test_tool_round_then_answer_streams_whole_sentences_that_make_the_reply(
    sample_db: Database,
) -> None:
    fake = ScriptedBackend()
    fake.enqueue(
        ToolCall("c1", "get_risk_signals", json.dumps({"enterprise_id": "E0001"})),
        "华东汽车的风险等级请见[1]。\n整体情况请见证据。",
    )
    reply, pieces, starts = streamed(assistant(sample_db, fake), CASHFLOW)
    assert pieces == ["华东汽车的风险等级请见[1]。", "\n整体情况请见证据。"]
    assert "".join(pieces) == reply.text and starts == [reply.session_id]
    assert reply.meta["backend"] == "scripted" and reply.meta["tool_calls"] == 1
    assert any(e.id.startswith("tool:get_risk_signals") for e in reply.evidence)
    assert fake.requests[0].messages[0].content == SYSTEM_PROMPT


def test_an_invented_figure_before_anything_was_released_is_regenerated(
    sample_db: Database,
) -> None:
    fake = ScriptedBackend()
    fake.enqueue("华东汽车近12个月现金流入 999,999.00 元[1]。", "整体情况请见证据[1]。")
    reply, pieces, _ = streamed(assistant(sample_db, fake), CASHFLOW)
    assert "999,999.00" in fake.requests[1].messages[-1].content  # the feedback
    assert reply.meta["regenerated"] is True and reply.unverified == []
    assert pieces == ["整体情况请见证据[1]。"] == [reply.text]


def test_after_a_released_sentence_an_invented_one_is_dropped_and_listed(
    sample_db: Database,
) -> None:
    fake = ScriptedBackend()
    fake.enqueue("整体情况请见证据[1]。近12个月现金流入 999,999.00 元[1]。以上供参考。")
    reply, pieces, _ = streamed(assistant(sample_db, fake), CASHFLOW)
    assert len(fake.requests) == 1 and "regenerated" not in reply.meta
    assert not any("999,999.00 元" in p for p in pieces)
    assert reply.unverified == ["999,999.00"] and "".join(pieces) == reply.text
    assert reply.text.startswith("整体情况请见证据[1]。以上供参考。\n（以下内容未能在证据中核实")


def test_a_json_block_is_held_back_and_read_as_the_recommendation(sample_db: Database) -> None:
    ask = "给恒泰精密推荐一个融资产品"
    rec = Assistant(sample_db, router=IntentRouter.rules_only()).ask(ask, manager_id="M001")
    fake = ScriptedBackend()
    block = json.dumps(rec.recommendation, ensure_ascii=False)
    fake.enqueue(f"推荐如下[1]。\n```json\n{block}\n```\n详情见证据。")
    reply, pieces, _ = streamed(assistant(sample_db, fake), ask)
    assert not any("`" in p or "{" in p for p in pieces)
    assert reply.recommendation == rec.recommendation and reply.text == "".join(pieces)
    assert reply.text == "推荐如下[1]。\n\n详情见证据。"


def test_a_sentence_that_repeats_the_system_prompt_stops_the_release(sample_db: Database) -> None:
    fake = ScriptedBackend()
    leak = SYSTEM_PROMPT.splitlines()[0][:30]
    fake.enqueue(f"整体情况请见证据[1]。{leak}。还有别的。")
    reply, pieces, _ = streamed(assistant(sample_db, fake), CASHFLOW)
    assert reply.meta["refused"] == "system_prompt"
    assert pieces == ["整体情况请见证据[1]。", "\n" + REFUSE_PROMPT] and leak not in reply.text


class BreaksOff:
    """A backend whose stream gives one sentence and then loses the connection."""

    name = "flaky"

    def chat(self, messages: list[Message], *, tools: Any = None) -> Any:
        raise AssertionError("a streamed turn does not call chat")

    def stream(self, messages: list[Message], *, tools: Any = None) -> Iterator[StreamChunk]:
        yield StreamChunk("整体情况请见证据[1]。")
        raise ModelUnavailable("连接中断")


def test_a_stream_that_breaks_off_keeps_what_was_released_and_says_so(
    sample_db: Database,
) -> None:
    reply, pieces, _ = streamed(assistant(sample_db, Router([BreaksOff()])), CASHFLOW)
    assert reply.meta["interrupted"] == "连接中断"
    assert pieces == ["整体情况请见证据[1]。", "\n（模型回答中断，以上为已核实的部分。）"]
    assert reply.text == "".join(pieces)


def test_backends_that_cannot_start_fall_back_and_the_offline_answer_is_released(
    sample_db: Database,
) -> None:
    broken = ScriptedBackend("cloud")
    broken.enqueue(ModelUnavailable("模型服务在 1 秒内没有响应"))
    reply, pieces, _ = streamed(assistant(sample_db, broken), CASHFLOW)
    offline = Assistant(sample_db, router=IntentRouter.rules_only()).ask(
        CASHFLOW, manager_id="M001"
    )
    assert reply.meta["offline"] is True and reply.meta["backend"] == "offline"
    assert reply.meta["fallback"] == [{"backend": "cloud", "error": "模型服务在 1 秒内没有响应"}]
    assert reply.text == "".join(pieces) == offline.text


def test_release_waits_for_whole_sentences_and_never_ends_in_a_blank() -> None:
    out: list[str] = []
    release = SentenceRelease(out.append, lambda s: ["9"] if "9" in s else [], lambda _t: False)
    for piece in ["  第一", "句。\n", "\n第二句有 9 元", "。\n第三", "句"]:
        release.feed(piece)
    assert out == ["第一句。"]
    release.finish()
    assert out == ["第一句。", "\n\n第三句"] and release.unsupported == ["9"]
