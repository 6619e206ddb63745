"""The edges of /v1/chat/completions: history from ``messages``, idempotency, response_format,
tools, parameter validation, the source list, invalid Unicode and the one length limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.serve.conftest import Keys, make_keys

from finassist.config import Settings
from finassist.nlp.normalize import MAX_MESSAGE_CHARS
from finassist.serve import create_app
from finassist.store.schema import sessions, turns

H = Keys.header
FIRST = "华东汽车近12个月的现金流怎么样？"
FOLLOW = "他们还有哪些应收发票没付？"
URL = "/v1/chat/completions"


def post(client: TestClient, key: str, messages: list[dict[str, Any]], **extra: Any):
    body = {"model": "finassist", "messages": messages, **extra}
    headers = H(key) | extra.pop("headers", {})
    body.pop("headers", None)
    return client.post(URL, json=body, headers=headers)


def content(response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def counts(app: FastAPI) -> tuple[int, int]:
    with app.state.server.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(sessions)).scalar_one(),
            conn.execute(select(func.count()).select_from(turns)).scalar_one(),
        )


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def test_history_alone_carries_the_conversation(client: TestClient, keys: Keys, app) -> None:
    first = content(post(client, keys.m1, [user(FIRST)]))
    follow = post(client, keys.m1, [user(FIRST), assistant(first), user(FOLLOW)])
    text = content(follow)
    assert "请问您想查询哪家企业" not in text and "华东汽车" in text
    session = follow.headers["X-Session-Id"]
    assert counts(app) == (1, 2)  # one stored session, nothing duplicated
    # A third turn by history alone still maps to the stored session.
    third = [user(FIRST), assistant(first), user(FOLLOW), assistant(text)]
    response = post(client, keys.m1, [*third, user("给他们推荐一个融资产品")])
    assert response.headers["X-Session-Id"] == session and counts(app) == (1, 3)
    assert response.json()["finassist"]["recommendation"]["enterprise_id"] == "E0001"
    # The same answers a session client gets.
    started = post(client, keys.m1, [user(FIRST)]).headers["X-Session-Id"]
    stateful = post(client, keys.m1, [user(FOLLOW)], headers={"X-Session-Id": started})
    assert content(stateful) == text


def test_an_unknown_history_is_replayed_into_one_new_session(
    client: TestClient, keys: Keys, app
) -> None:
    messages = [
        {"role": "system", "content": "你是一个助手"},
        user(FIRST),
        assistant("（另一个系统的回答）"),
        user(FOLLOW),
    ]
    response = post(client, keys.m1, messages)
    assert "华东汽车" in content(response)
    assert counts(app) == (1, 2)  # the resent exchange is stored once, with the new turn
    session = response.headers["X-Session-Id"]
    listed = client.get(f"/api/sessions/{session}/turns", headers=H(keys.m1)).json()["data"]
    assert [t["user_text"] for t in listed] == [FIRST, FOLLOW]
    again = post(client, keys.m1, [*messages, assistant(content(response)), user("逾期情况呢？")])
    assert again.headers["X-Session-Id"] == session and counts(app) == (1, 3)
    # Another manager's identical history never lands in M001's session.
    other = post(client, keys.m2, messages)
    assert other.headers["X-Session-Id"] != session


def test_retries_with_the_same_idempotency_key_store_one_turn(
    client: TestClient, keys: Keys, app
) -> None:
    retry = {"headers": {"Idempotency-Key": "req-0001"}}
    first = post(client, keys.m1, [user(FIRST)], **retry)
    again = post(client, keys.m1, [user(FIRST)], **retry)
    assert first.json() == again.json() and counts(app) == (1, 1)
    assert again.headers["X-Session-Id"] == first.headers["X-Session-Id"]
    streamed = post(client, keys.m1, [user(FIRST)], stream=True, headers={"Idempotency-Key": "s1"})
    streamed_again = post(
        client, keys.m1, [user(FIRST)], stream=True, headers={"Idempotency-Key": "s1"}
    )
    assert streamed.text.replace("\n", "") and counts(app) == (2, 2)
    assert streamed_again.text == streamed.text
    reused = post(client, keys.m1, [user("你好")], headers={"Idempotency-Key": "req-0001"})
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "idempotency_key_reused"
    # Keys belong to the API key: M002's "req-0001" is a request of its own.
    assert post(client, keys.m2, [user("你好")], **retry).status_code == 200
    bad = post(client, keys.m1, [user(FIRST)], headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400


def test_response_format_gives_the_structured_reply(client: TestClient, keys: Keys) -> None:
    obj = json.loads(
        content(post(client, keys.m1, [user(FIRST)], response_format={"type": "json_object"}))
    )
    assert "华东汽车" in obj["answer"] and obj["evidence"][0]["n"] == 1
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["answer", "sources"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": schema, "strict": True},
    }
    filled = json.loads(content(post(client, keys.m1, [user(FIRST)], response_format=fmt)))
    assert set(filled) == {"answer", "sources"} and filled["sources"][0].startswith("[1] ")
    impossible = {
        "type": "object",
        "properties": {"weather": {"type": "integer"}},
        "required": ["weather"],
    }
    fmt["json_schema"]["schema"] = impossible
    refused = post(client, keys.m1, [user(FIRST)], response_format=fmt)
    assert refused.status_code == 400 and "weather" in refused.json()["error"]["message"]


def test_tools_the_assistant_cannot_run_are_refused(client: TestClient, keys: Keys, app) -> None:
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
    }
    for choice in ("auto", "required", None):
        extra = {"tool_choice": choice} if choice else {}
        response = post(client, keys.m1, [user(FIRST)], tools=[tool], **extra)
        error = response.json()["error"]
        assert response.status_code == 400 and error["code"] == "tools_not_supported"
        assert "get_weather" in error["message"]
    assert content(post(client, keys.m1, [user(FIRST)], tools=[tool], tool_choice="none"))
    assert counts(app) == (1, 1)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 99}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"tool_choice": "required"}, "tool_choice"),
    ],
)
def test_parameters_are_checked_with_openai_errors(
    client: TestClient, keys: Keys, app, extra: dict[str, Any], param: str
) -> None:
    response = post(client, keys.m1, [user(FIRST)], **extra)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert param.split(".")[0] in error["message"] and "Input should" not in error["message"]
    assert counts(app) == (0, 0)


def test_sources_option_appends_a_numbered_list(client: TestClient, keys: Keys) -> None:
    plain = content(post(client, keys.m1, [user(FIRST)]))
    listed = content(post(client, keys.m1, [user(FIRST)], finassist_sources=True))
    by_header = content(
        post(client, keys.m1, [user(FIRST)], headers={"X-Finassist-Sources": "true"})
    )
    assert listed == by_header and listed.startswith(plain)
    tail = listed[len(plain) :]
    assert tail.startswith("\n\n来源：\n[1] ") and "\n[2] " in tail
    # Resending the text with its source list still maps to the stored session.
    follow = post(
        client, keys.m1, [user(FIRST), assistant(listed), user(FOLLOW)], finassist_sources=True
    )
    assert "华东汽车" in content(follow)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"finassist","messages":[{"role":"user","content":"\\ud800"}]}',
        b'{"model":"finassist","messages":[{"role":"user","content":"a\\udfffb"}]}',
        b'{"model":"finassist","messages":[{"role":"user","content":"\xff\xfe"}]}',
    ],
)
def test_invalid_unicode_is_400_and_stores_nothing(
    client: TestClient, keys: Keys, app, raw: bytes
) -> None:
    response = client.post(
        URL, content=raw, headers=H(keys.m1) | {"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_unicode"
    assert counts(app) == (0, 0)
    emoji = b'{"model":"finassist","messages":[{"role":"user","content":"\\ud83d\\ude00 \xe4\xbd\xa0\xe5\xa5\xbd"}]}'
    ok = client.post(URL, content=emoji, headers=H(keys.m1) | {"content-type": "application/json"})
    assert ok.status_code == 200


def test_a_failing_turn_leaves_no_empty_session(
    client: TestClient, keys: Keys, app, monkeypatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.server.assistant, "_answer", broken)
    response = post(client, keys.m1, [user(FIRST)], headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 500 and counts(app) == (0, 0)
    monkeypatch.undo()
    # The failed request released its idempotency key: the retry answers.
    assert content(post(client, keys.m1, [user(FIRST)], headers={"Idempotency-Key": "k-1"}))


def _assert_one_limit(client: TestClient, key: str, limit: int) -> None:
    """/api/me, the OpenAPI document and the chat endpoint agree on ``limit``."""
    assert client.get("/api/me", headers=H(key)).json()["max_message_chars"] == limit
    request = client.get("/openapi.json").json()["components"]["schemas"]["ChatRequest"]
    assert request["x-max-message-chars"] == limit
    assert f"最多 {limit:,} 字" in request["properties"]["messages"]["description"]
    at_limit = "华东汽车现金流" + "。" * (limit - 7)
    assert post(client, key, [user(at_limit)]).status_code == 200
    over = post(client, key, [user(at_limit + "。")])
    assert over.status_code == 400 and over.json()["error"]["code"] == "message_too_long"
    assert f"{limit:,}" in over.json()["error"]["message"]


def test_one_message_limit_advertised_and_enforced(client: TestClient, keys: Keys) -> None:
    _assert_one_limit(client, keys.m1, MAX_MESSAGE_CHARS)


def test_the_message_limit_is_a_server_setting(home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINASSIST_SERVER__MAX_MESSAGE_CHARS", "50")
    app = create_app(Settings(home=home))
    with TestClient(app, raise_server_exceptions=False) as client:
        _assert_one_limit(client, make_keys(app.state.server.db).m1, 50)


def test_openapi_declares_what_is_sent(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    chat = spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "422" not in json.dumps(spec["paths"])
    assert {"200", "400", "401", "404", "409", "429"} <= set(chat)
    assert "text/event-stream" in chat["200"]["content"]
    assert chat["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")
    wrong = client.put("/v1/models")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
