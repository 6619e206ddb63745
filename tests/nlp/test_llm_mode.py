"""LLM mode: prompts list the options, replies are parsed into the offline result types."""

from __future__ import annotations

import pytest

from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import ModelResponseError
from finassist.nlp.intent import UNKNOWN, IntentRouter
from finassist.nlp.llm_mode import LlmError, intent_prompt, llm_entities, llm_intent, llm_sentiment


def fake(reply: str) -> ScriptedBackend:
    """A model that gives ``reply`` to every prompt."""
    return ScriptedBackend(respond=lambda messages: reply)


def test_intent_prompt_lists_every_label_by_group() -> None:
    router = IntentRouter.rules_only()
    prompt = intent_prompt("茅台还能拿吗", router)[-1].content
    for spec in router.specs:
        assert spec.label in prompt
    assert "投资咨询：" in prompt and "未识别" in prompt


def test_model_reply_becomes_an_intent() -> None:
    router = IntentRouter.rules_only()
    assert llm_intent("券商板块还能上车吗", router, fake("行业板块问询")).name == "sector"
    assert llm_intent("今天天气", router, fake("未识别")).name == UNKNOWN


def test_a_reply_outside_the_options_is_a_clear_error() -> None:
    with pytest.raises(LlmError, match="不在选项中"):
        llm_sentiment("股价大涨", fake("我觉得很好"))


def test_entities_from_a_model_get_offsets() -> None:
    reply = '好的：[{"text": "茅台", "type": "stock"}, {"text": "不存在", "type": "stock"}, {"text": "1.2亿", "type": "amount"}]'
    found = llm_entities("茅台营收1.2亿", fake(reply))
    assert [(e.text, e.type, e.start, e.end) for e in found] == [
        ("茅台", "stock", 0, 2),
        ("1.2亿", "amount", 4, 8),
    ]


def test_entities_reply_without_json_is_a_clear_error() -> None:
    with pytest.raises(LlmError, match="JSON"):
        llm_entities("茅台", fake("没有"))


def test_the_model_is_shown_the_system_prompt_and_the_text() -> None:
    model = fake("积极")
    assert llm_sentiment("股价大涨", model).label == "积极"
    [request] = model.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert "股价大涨" in request.messages[-1].content


def test_an_unparsable_reply_is_a_model_response_error() -> None:
    with pytest.raises(ModelResponseError):  # callers that handle model errors handle this too
        llm_intent("茅台", IntentRouter.rules_only(), fake("不知道"))
