"""The openai backend against a real HTTP server on loopback speaking the OpenAI wire format."""

from __future__ import annotations

import json
import re
import time

import pytest
from tests.llm.openai_server import chunk, completion, openai_server

from finassist.config import ModelConfig
from finassist.errors import ConfigError
from finassist.llm.openai_backend import OpenAIBackend
from finassist.llm.registry import create_backend
from finassist.llm.types import (
    Message,
    ModelAuthError,
    ModelNotFound,
    ModelResponseError,
    ModelUnavailable,
    ToolCall,
    collect,
)

TOOLS = [{"type": "function", "function": {"name": "get_cashflow", "parameters": {}}}]


@pytest.fixture
def server():
    with openai_server() as srv:
        yield srv


def backend(server, **kw) -> OpenAIBackend:
    options = {"base_url": server.url, "model": "qwen-ft", "backoff_base": 0.01, **kw}
    return OpenAIBackend("test", **options)


def test_chat_sends_messages_and_tools_and_reads_tool_calls(server) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_cashflow", "arguments": '{"enterprise_id": "E0001"}'},
    }
    server.script.append(("json", completion(tool_calls=[call])))
    response = backend(server).chat(
        [Message.system("规则"), Message.user("华东汽车的现金流？")], tools=TOOLS
    )
    assert response.tool_calls == (
        ToolCall("call_1", "get_cashflow", '{"enterprise_id": "E0001"}'),
    )
    assert response.finish_reason == "tool_calls"
    sent = server.requests[0]["body"]
    assert sent["model"] == "qwen-ft"
    assert sent["messages"][1] == {"role": "user", "content": "华东汽车的现金流？"}
    assert sent["tools"] == TOOLS


def test_stream_yields_text_and_joins_tool_call_deltas(server) -> None:
    server.script.append(
        (
            "sse",
            [
                chunk({"role": "assistant", "content": "好的，"}),
                chunk({"content": "我查一下。"}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_9",
                                "type": "function",
                                "function": {"name": "get_cash", "arguments": '{"enterp'},
                            }
                        ]
                    }
                ),
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, "function": {"name": "flow", "arguments": 'rise_id": '}}
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"E0001"}'}}]}),
                chunk({}, finish="tool_calls"),
            ],
        )
    )
    chunks = list(backend(server).stream([Message.user("现金流")], tools=TOOLS))
    assert [c.text for c in chunks if c.text] == ["好的，", "我查一下。"]
    response = collect(chunks)
    assert response.tool_calls[0].name == "get_cashflow"
    assert response.tool_calls[0].parsed() == {"enterprise_id": "E0001"}
    assert response.finish_reason == "tool_calls"
    assert server.requests[0]["body"]["stream"] is True


def test_wrong_key_is_a_clear_error_naming_the_variable(server, monkeypatch) -> None:
    server.script.append(("status", 401, {"error": {"message": "Invalid API key"}}))
    monkeypatch.setenv("FA_TEST_KEY", "sk-wrong")
    config = ModelConfig(base_url=server.url, model="m", api_key_env="FA_TEST_KEY")
    with pytest.raises(ModelAuthError, match="FA_TEST_KEY") as err:
        create_backend("cloud", config).chat([Message.user("你好")])
    assert "Invalid API key" in str(err.value)
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-wrong"


def test_missing_key_variable_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("FA_TEST_ABSENT", raising=False)
    config = ModelConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="FA_TEST_ABSENT")
    with pytest.raises(ConfigError, match="export FA_TEST_ABSENT"):
        create_backend("cloud", config)


def test_unknown_model_names_the_model(server) -> None:
    server.script.append(("status", 404, {"error": {"message": "model not found"}}))
    with pytest.raises(ModelNotFound, match="qwen-ft"):
        backend(server).chat([Message.user("你好")])


def test_429_then_success_retries_with_backoff(server) -> None:
    server.script.extend(
        [
            ("status", 429, {"error": {"message": "slow down"}}),
            ("status", 503, {"error": {"message": "busy"}}),
            ("json", completion("您好！")),
        ]
    )
    slept: list[float] = []
    response = backend(server, sleep=slept.append).chat([Message.user("你好")])
    assert response.content == "您好！"
    assert slept == [0.01, 0.02]
    assert len(server.requests) == 3


def test_429_every_time_gives_up(server) -> None:
    server.script.extend([("status", 429, {"error": {"message": "slow"}})] * 2)
    with pytest.raises(ModelUnavailable, match="429"):
        backend(server, max_retries=1, sleep=lambda s: None).chat([Message.user("你好")])


def test_timeout_fails_fast(server) -> None:
    server.script.append(("sleep", 2.0))
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"0\.3 秒内没有响应"):
        backend(server, timeout=0.3).chat([Message.user("你好")])
    assert time.monotonic() - started < 1.5


def test_unreachable_address_says_so() -> None:
    dead = OpenAIBackend("x", base_url="http://127.0.0.1:9/v1", model="m", connect_timeout=0.5)
    with pytest.raises(ModelUnavailable, match=re.escape("无法连接模型服务 http://127.0.0.1:9/v1")):
        dead.chat([Message.user("你好")])


def test_malformed_chunk_is_a_response_error(server) -> None:
    server.script.append(("sse", [chunk({"content": "好"}), "{not json"]))
    with pytest.raises(ModelResponseError, match="无法解析"):
        list(backend(server).stream([Message.user("你好")]))


def test_config_needs_base_url() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        create_backend("x", ModelConfig(model="m"))
    assert json.loads(ToolCall("c", "f", '{"a": 1}').to_openai()["function"]["arguments"]) == {
        "a": 1
    }
