"""Unchanged standard clients against uvicorn on loopback: the official openai SDK and
LangChain's ChatOpenAI. They keep no session id: the conversation lives in the history they
resend, and retries, JSON output and tool refusals behave as these clients expect."""

from __future__ import annotations

import json

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from tests.serve.conftest import Keys, LiveServer

from finassist.store.schema import sessions, turns

FIRST = "华东汽车近12个月的现金流怎么样？"
FOLLOW = "他们还有哪些应收发票没付？"
ASK_WHICH = "请问您想查询哪家企业"


class Answer(BaseModel):
    """What a LangChain user asks for with ``with_structured_output``."""

    answer: str = Field(description="回答")
    sources: list[str] = Field(description="来源")


def sdk(live: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=30)


def chat_model(live: LiveServer, key: str, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(
        model="finassist", base_url=f"{live.url}/v1", api_key=key, max_retries=0, **kwargs
    )


def stored(live: LiveServer) -> tuple[int, int]:
    db = live.server.config.app.state.server.db
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(sessions)).scalar_one(),
            conn.execute(select(func.count()).select_from(turns)).scalar_one(),
        )


def test_sdk_follow_up_by_history_alone(live: LiveServer, keys: Keys) -> None:
    client = sdk(live, keys.m1)
    messages = [{"role": "user", "content": FIRST}]
    first = client.chat.completions.create(model="finassist", messages=messages)
    messages.append({"role": "assistant", "content": first.choices[0].message.content})
    messages.append({"role": "user", "content": FOLLOW})
    follow = client.chat.completions.create(model="finassist", messages=messages)
    text = follow.choices[0].message.content
    assert ASK_WHICH not in text and "华东汽车" in text
    assert follow.model_extra["finassist"]["evidence"]  # structured evidence for SDK users
    assert stored(live) == (1, 2)


def test_sdk_json_tools_and_retries(live: LiveServer, keys: Keys) -> None:
    client = sdk(live, keys.m1)
    ask = [{"role": "user", "content": FIRST}]
    as_json = client.chat.completions.create(
        model="finassist", messages=ask, response_format={"type": "json_object"}
    )
    assert "华东汽车" in json.loads(as_json.choices[0].message.content)["answer"]
    parsed = client.chat.completions.parse(model="finassist", messages=ask, response_format=Answer)
    assert parsed.choices[0].message.parsed.sources[0].startswith("[1] ")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="finassist", messages=ask, tools=[weather], tool_choice="required"
        )
    assert refused.value.code == "tools_not_supported" and "get_weather" in refused.value.message
    before = stored(live)
    retry = {"Idempotency-Key": "sdk-retry-1"}
    once = client.chat.completions.create(model="finassist", messages=ask, extra_headers=retry)
    twice = client.chat.completions.create(model="finassist", messages=ask, extra_headers=retry)
    assert once.id == twice.id and stored(live) == (before[0] + 1, before[1] + 1)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="finassist", messages=ask, temperature=99)
    assert bad.value.param == "temperature"


def test_langchain_follow_up_by_history_alone(live: LiveServer, keys: Keys) -> None:
    llm = chat_model(live, keys.m1)
    history = [HumanMessage(FIRST)]
    history.append(llm.invoke(history))
    history.append(HumanMessage(FOLLOW))
    follow = llm.invoke(history)
    assert isinstance(follow, AIMessage)
    assert ASK_WHICH not in follow.content and "华东汽车" in follow.content
    streamed = "".join(
        chunk.content for chunk in llm.stream([*history, follow, HumanMessage("逾期情况呢？")])
    )
    assert streamed and ASK_WHICH not in streamed
    assert stored(live) == (1, 3)


def test_langchain_sources_structured_output_and_tools(live: LiveServer, keys: Keys) -> None:
    with_sources = chat_model(live, keys.m1, extra_body={"finassist_sources": True})
    text = with_sources.invoke(FIRST).content
    assert "\n\n来源：\n[1] " in text  # evidence LangChain users can see
    structured = chat_model(live, keys.m1).with_structured_output(Answer)
    result = structured.invoke(FIRST)
    assert isinstance(result, Answer) and "华东汽车" in result.answer and result.sources
    by_tool = chat_model(live, keys.m1).with_structured_output(Answer, method="function_calling")
    assert isinstance(by_tool.invoke(FIRST), Answer)
    as_json = chat_model(live, keys.m1).with_structured_output(None, method="json_mode")
    assert "华东汽车" in as_json.invoke(FIRST)["answer"]

    def get_weather(city: str) -> str:
        """天气。"""
        return city

    with pytest.raises(openai.BadRequestError, match="get_weather"):
        chat_model(live, keys.m1).bind_tools([get_weather]).invoke(FIRST)
