"""Configured models called through the server (``model`` = a name from settings.models), next
to the grounded assistant (``model: "finassist"``), with a scripted backend configured in the
settings: over HTTP in process, and with the official openai SDK against uvicorn on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.serve.conftest import Keys, LiveServer, make_keys

from finassist.assistant.llm_turn import SYSTEM_PROMPT
from finassist.config import Settings
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import Message, ModelUnavailable, StreamChunk, ToolCall
from finassist.serve import ServerOptions, create_app
from finassist.store.schema import turns

CASHFLOW = "华东汽车近12个月的现金流怎么样？"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "查询天气",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def app(home: Path) -> FastAPI:
    settings = Settings(
        home=home,
        llm_cache_ttl=0,
        models={
            "qwen-ft": {"backend": "scripted", "role": "finance"},
            "general": {"backend": "scripted", "role": "general"},
        },
    )
    return create_app(settings, options=ServerOptions(rate_per_minute=0, max_prompt_chars=500))


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    return make_keys(app.state.server.db)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def scripted(app: FastAPI, name: str) -> ScriptedBackend:
    backend = app.state.server.models.get(name)
    assert isinstance(backend, ScriptedBackend)
    return backend


def post(client: TestClient, key: str, **body: Any) -> Any:
    return client.post("/v1/chat/completions", json=body, headers=Keys.header(key))


def stored_turns(app: FastAPI) -> int:
    with app.state.server.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(turns)).scalar_one())


def test_models_lists_the_assistant_and_every_configured_model(
    client: TestClient, keys: Keys
) -> None:
    listed = client.get("/v1/models", headers=Keys.header(keys.m1)).json()
    assert [m["id"] for m in listed["data"]] == ["finassist", "general", "qwen-ft"]
    one = client.get("/v1/models/qwen-ft", headers=Keys.header(keys.m1))
    assert one.status_code == 200 and one.json()["id"] == "qwen-ft"
    missing = client.get("/v1/models/gpt-4o", headers=Keys.header(keys.m1))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_a_configured_model_gets_the_messages_as_they_are(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    backend = scripted(app, "general")
    backend.enqueue("您好，我是通用模型。")
    messages = [
        {"role": "system", "content": "你是一名翻译。"},
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "您好！"},
        {"role": "user", "content": [{"type": "text", "text": "翻译：good morning"}]},
    ]
    reply = post(client, keys.m1, model="general", messages=messages)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["object"] == "chat.completion" and body["model"] == "general"
    assert body["choices"][0]["message"]["content"] == "您好，我是通用模型。"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] > 0
    assert "finassist" not in body and "x-session-id" not in reply.headers
    (request,) = backend.requests
    assert request.messages == [
        Message.system("你是一名翻译。"),
        Message.user("你好"),
        Message.assistant("您好！"),
        Message.user("翻译：good morning"),
    ]
    assert request.tools is None
    assert stored_turns(app) == 0  # no session, no stored turn: a plain model call


def test_tool_calls_travel_both_ways(app: FastAPI, client: TestClient, keys: Keys) -> None:
    backend = scripted(app, "general")
    backend.enqueue(ToolCall("call_1", "get_weather", '{"city": "上海"}'), "上海今天晴。")
    first = post(
        client,
        keys.m1,
        model="general",
        messages=[{"role": "user", "content": "上海天气？"}],
        tools=[TOOL],
    ).json()
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "上海"}'},
        }
    ]
    assert backend.requests[0].tools == [TOOL]
    second = post(
        client,
        keys.m1,
        model="general",
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "上海天气？"},
            {"role": "assistant", "content": None, "tool_calls": choice["message"]["tool_calls"]},
            {"role": "tool", "tool_call_id": "call_1", "content": "晴，25℃"},
        ],
    ).json()
    assert second["choices"][0]["message"]["content"] == "上海今天晴。"
    sent = backend.requests[1].messages
    assert sent[1].tool_calls == (ToolCall("call_1", "get_weather", '{"city": "上海"}'),)
    assert sent[2] == Message.tool("call_1", "晴，25℃")


def test_finassist_stays_the_grounded_assistant_on_the_configured_models(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    finance = scripted(app, "qwen-ft")
    finance.enqueue(
        "华东汽车近12个月现金流入 999,999.00 元[1]。整体情况请见证据。",
        "华东汽车近12个月现金流入 999,999.00 元[1]。整体情况请见证据。",
    )
    reply = post(
        client, keys.m1, model="finassist", messages=[{"role": "user", "content": CASHFLOW}]
    )
    assert reply.status_code == 200, reply.text
    extra = reply.json()["finassist"]
    assert finance.requests[0].messages[0].content == SYSTEM_PROMPT  # the assistant's prompt
    assert extra["meta"]["backend"] == "qwen-ft" and extra["evidence"]
    assert extra["unverified"] == ["999,999.00"]  # the guard removed the figure and says so
    assert reply.json()["choices"][0]["message"]["content"].startswith("整体情况请见证据。")
    assert scripted(app, "general").requests == []  # a finance turn goes to the finance model
    assert reply.headers["x-session-id"] and stored_turns(app) == 1


def test_errors_keep_the_openai_format(app: FastAPI, client: TestClient, keys: Keys) -> None:
    hello = [{"role": "user", "content": "你好"}]
    unknown = post(client, keys.m1, model="gpt-4o", messages=hello)
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "general" in error["message"] and "qwen-ft" in error["message"]

    no_key = client.post("/v1/chat/completions", json={"model": "general", "messages": hello})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "missing_api_key"

    too_long = post(
        client, keys.m1, model="general", messages=[{"role": "user", "content": "长" * 501}]
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "message_too_long"

    bad_calls = post(
        client,
        keys.m1,
        model="general",
        messages=[{"role": "assistant", "tool_calls": [{"id": "x"}]}, *hello],
    )
    assert (
        bad_calls.status_code == 400
        and bad_calls.json()["error"]["param"] == "messages.0.tool_calls.0.function"
    )
    bad_tools = post(client, keys.m1, model="general", messages=hello, tools="all")
    assert bad_tools.status_code == 400 and bad_tools.json()["error"]["param"] == "tools"

    backend = scripted(app, "general")
    backend.enqueue(ModelUnavailable("连接 http://127.0.0.1:9/v1 超时。"))
    down = post(client, keys.m1, model="general", messages=hello)
    assert down.status_code == 503 and down.headers["retry-after"]
    assert down.json()["error"]["code"] == "model_unavailable"
    assert "模型 general 调用失败" in down.json()["error"]["message"]
    empty = post(client, keys.m1, model="general", messages=hello)  # nothing scripted: it fails
    assert empty.status_code == 502 and empty.json()["error"]["type"] == "server_error"


def test_usage_and_errors_are_counted_by_model(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    scripted(app, "general").enqueue("好的，一共三个字。")
    post(client, keys.m1, model="general", messages=[{"role": "user", "content": "你好"}])
    post(client, keys.m1, model="general", messages=[{"role": "user", "content": "你好"}])
    metrics = client.get("/metrics").text
    assert 'finassist_chat_requests_total{model="general",stream="false"} 1.0' in metrics
    assert 'finassist_tokens_total{kind="completion",model="general"}' in metrics
    assert 'finassist_chat_errors_total{code="ModelError",model="general"} 1.0' in metrics


# -- the official openai SDK against uvicorn on loopback ------------------------------------


class BreaksMidStream:
    """A backend that starts answering, then loses its connection."""

    name = "general"

    def chat(self, messages: list[Message], *, tools: Any = None) -> Any:
        raise AssertionError("not used")

    def stream(self, messages: list[Message], *, tools: Any = None) -> Iterator[StreamChunk]:
        yield StreamChunk(text="您好，")
        raise ModelUnavailable("连接中断。")


@pytest.fixture
def live(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


def sdk(live: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_sdk_calls_a_configured_model_whole_and_streamed(
    app: FastAPI, live: LiveServer, keys: Keys
) -> None:
    client = sdk(live, keys.m1)
    assert [m.id for m in client.models.list()] == ["finassist", "general", "qwen-ft"]
    backend = scripted(app, "general")
    backend.enqueue(
        "早上好。", "上海今天晴，气温二十五度。", ToolCall("c9", "get_weather", '{"city": "北京"}')
    )
    whole = client.chat.completions.create(
        model="general", messages=[{"role": "user", "content": "翻译 good morning"}]
    )
    assert whole.model == "general" and whole.choices[0].message.content == "早上好。"
    assert whole.usage and whole.usage.total_tokens > 0

    stream = client.chat.completions.create(
        model="general",
        messages=[{"role": "user", "content": "上海天气？"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(pieces) == "上海今天晴，气温二十五度。" and len(pieces) > 5
    assert finish == "stop" and usage and usage.completion_tokens > 0

    calls = client.chat.completions.create(
        model="general",
        messages=[{"role": "user", "content": "北京呢？"}],
        tools=[TOOL],
        stream=True,
    )
    deltas = [
        c.choices[0].delta.tool_calls for c in calls if c.choices and c.choices[0].delta.tool_calls
    ]
    (call,) = deltas[0]
    assert call.id == "c9" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "北京"}


def test_sdk_raises_its_usual_errors_for_models(app: FastAPI, live: LiveServer, keys: Keys) -> None:
    client = sdk(live, keys.m1)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "你好"}]
        )
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        sdk(live, "fa-bad.key").chat.completions.create(
            model="general", messages=[{"role": "user", "content": "你好"}]
        )
    scripted(app, "general").enqueue(ModelUnavailable("服务繁忙。"))
    with pytest.raises(openai.InternalServerError) as busy:
        client.chat.completions.create(
            model="general", messages=[{"role": "user", "content": "你好"}]
        )
    assert busy.value.status_code == 503 and busy.value.code == "model_unavailable"

    app.state.server.models.backends["general"] = BreaksMidStream()
    stream = client.chat.completions.create(
        model="general", messages=[{"role": "user", "content": "你好"}], stream=True
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in stream:
            if chunk.choices:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "您好，" and "连接中断" in broken.value.message
