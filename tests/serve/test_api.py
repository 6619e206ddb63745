"""The OpenAI-compatible API through the ASGI client: shapes, sessions, access, limits, errors."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from tests.serve.conftest import Keys, make_keys

from finassist.config import Settings
from finassist.serve import ServerOptions, create_app
from finassist.serve.keys import ApiKeyStore

H = Keys.header
QUESTION = "远航汽配还有哪些应收发票没付？"


def chat(client: TestClient, key: str, text: str, session: str | None = None, **extra: Any):
    headers = H(key) | ({"X-Session-Id": session} if session else {})
    body = {"model": "finassist", "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def assert_openai_error(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["type"] and error["message"]
    assert "Traceback" not in error["message"]
    return error


def test_no_key_bad_key_and_revoked_key_are_401(client: TestClient, keys: Keys, app) -> None:
    assert_openai_error(client.get("/v1/models"), 401, "missing_api_key")
    assert_openai_error(client.get("/v1/models", headers=H("fa-nope.nope")), 401, "invalid_api_key")
    assert_openai_error(client.get("/v1/models", headers=H(keys.m1 + "x")), 401, "invalid_api_key")
    ApiKeyStore(app.state.server.db).revoke(keys.m1.split(".")[0].removeprefix("fa-"))
    assert_openai_error(client.get("/v1/models", headers=H(keys.m1)), 401, "invalid_api_key")
    assert client.get("/v1/models", headers=H(keys.m2)).status_code == 200


def test_models_lists_finassist(client: TestClient, keys: Keys) -> None:
    body = client.get("/v1/models", headers=H(keys.m1)).json()
    assert [m["id"] for m in body["data"]] == ["finassist"]
    assert client.get("/v1/models/finassist", headers=H(keys.m1)).json()["id"] == "finassist"
    assert_openai_error(client.get("/v1/models/gpt-4", headers=H(keys.m1)), 404, "model_not_found")


def test_completion_carries_text_evidence_and_session(client: TestClient, keys: Keys) -> None:
    response = chat(client, keys.m1, QUESTION)
    assert response.status_code == 200
    body = response.json()
    session = response.headers["X-Session-Id"]
    assert body["object"] == "chat.completion" and body["model"] == "finassist"
    text = body["choices"][0]["message"]["content"]
    assert "宁波远航汽车零部件有限公司" in text and "[1]" in text
    extra = body["finassist"]
    assert extra["session_id"] == session and extra["turn_seq"] == 1
    assert extra["intent"] == "invoices"
    assert any(e["kind"] == "invoice" for e in extra["evidence"])
    assert body["usage"]["completion_tokens"] > 0

    follow = chat(client, keys.m1, "给他们推荐一个融资产品", session)
    assert follow.headers["X-Session-Id"] == session
    rec = follow.json()["finassist"]["recommendation"]
    assert rec["enterprise_id"] == "E0006" and rec["recommended_product"]
    assert follow.json()["finassist"]["turn_seq"] == 2


def test_stream_sends_chunks_then_extra_then_done(client: TestClient, keys: Keys) -> None:
    response = chat(client, keys.m1, QUESTION, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    text = "".join(p or "" for p in pieces)
    # The offline engine's reply is finished when it is sent: one piece, not made-up tokens.
    assert [p for p in pieces if p] == [text] and "[1]" in text
    final = next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop")
    assert (
        final["finassist"]["evidence"]
        and final["finassist"]["session_id"] == response.headers["X-Session-Id"]
    )
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert chat(client, keys.m1, QUESTION).json()["choices"][0]["message"]["content"] == text


def test_other_managers_client_answers_like_a_missing_company(
    client: TestClient, keys: Keys
) -> None:
    hidden = chat(client, keys.m2, "远航汽配的风险").json()
    missing = chat(client, keys.m2, "远航汽车配件贸易的风险").json()
    assert hidden["finassist"]["intent"] == missing["finassist"]["intent"] == "not_found"
    assert hidden["finassist"]["evidence"] == missing["finassist"]["evidence"] == []
    hidden_report = client.get("/api/enterprises/E0006/report", headers=H(keys.m2))
    missing_report = client.get("/api/enterprises/E9999/report", headers=H(keys.m2))
    assert hidden_report.status_code == missing_report.status_code == 404
    strip = lambda r: r.json()["error"]["message"].replace("E0006", "X").replace("E9999", "X")  # noqa: E731
    assert strip(hidden_report) == strip(missing_report)


def test_another_managers_session_is_not_found(client: TestClient, keys: Keys) -> None:
    session = chat(client, keys.m1, QUESTION).headers["X-Session-Id"]
    stolen = chat(client, keys.m2, "他们的风险", session)
    nowhere = chat(client, keys.m2, "他们的风险", "0" * 32)
    assert_openai_error(stolen, 404, "not_found")
    assert stolen.json()["error"]["message"].replace(session, "") == nowhere.json()["error"][
        "message"
    ].replace("0" * 32, "")
    # An admin may read it but not ask in it (tests/serve/test_scope.py).
    assert chat(client, keys.admin, "他们的风险", session).status_code == 403


def test_bad_requests_get_clear_openai_errors(client: TestClient, keys: Keys) -> None:
    too_long = chat(client, keys.m1, "现金流" * 2000)
    assert "上限" in assert_openai_error(too_long, 400, "message_too_long")["message"]
    assert_openai_error(
        chat(client, keys.m1, QUESTION, session="../etc"), 400, "invalid_session_id"
    )
    assert_openai_error(chat(client, keys.m1, "   "), 400, "invalid_input")
    assert_openai_error(
        client.post(
            "/v1/chat/completions",
            headers=H(keys.m1),
            json={"model": "finassist", "messages": [{"role": "system", "content": "x"}]},
        ),
        400,
        "no_user_message",
    )
    assert_openai_error(
        client.post(
            "/v1/chat/completions",
            headers=H(keys.m1) | {"content-type": "application/json"},
            content=b"{not json",
        ),
        400,
        "invalid_request",
    )
    assert_openai_error(
        client.post(
            "/v1/chat/completions", headers=H(keys.m1), json={"model": "finassist", "messages": []}
        ),
        400,
        "invalid_request",
    )
    assert_openai_error(chat(client, keys.m1, QUESTION, model="gpt-4o"), 404, "model_not_found")
    assert_openai_error(client.get("/nowhere"), 404, "http_404")


def test_oversized_body_is_413(settings: Settings) -> None:
    app = create_app(settings, options=ServerOptions(max_body_bytes=2000, rate_per_minute=0))
    key = make_keys(app.state.server.db).m1
    with TestClient(app) as client:
        big = chat(client, key, "现金流" * 1000)
        assert_openai_error(big, 413, "request_too_large")

        def chunks():
            yield b'{"model": "finassist", "messages": [{"role": "user", "content": "'
            for _ in range(100):
                yield b"x" * 100
            yield b'"}]}'

        streamed = client.post(
            "/v1/chat/completions",
            headers=H(key) | {"content-type": "application/json"},
            content=chunks(),
        )
        assert_openai_error(streamed, 413, "request_too_large")


def test_rate_limit_is_per_key_with_retry_after(settings: Settings) -> None:
    app = create_app(settings, options=ServerOptions(rate_per_minute=6, burst=3))
    keys = make_keys(app.state.server.db)
    with TestClient(app) as client:
        codes = [client.get("/v1/models", headers=H(keys.m1)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/v1/models", headers=H(keys.m1))
        assert_openai_error(limited, 429, "rate_limit_exceeded")
        assert int(limited.headers["Retry-After"]) >= 1
        assert client.get("/v1/models", headers=H(keys.m2)).status_code == 200


def test_health_and_metrics(client: TestClient, keys: Keys) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    chat(client, keys.m1, QUESTION)
    client.get("/v1/models")
    text = client.get("/metrics").text
    assert 'finassist_chat_requests_total{model="finassist",stream="false"} 1.0' in text
    assert 'finassist_tokens_total{kind="completion",model="finassist"}' in text
    assert (
        'route="/v1/chat/completions"' in text and "finassist_http_request_seconds_bucket" in text
    )
    assert 'finassist_http_errors_total{route="/v1/models",status="401"} 1.0' in text
    assert client.get("/api/metrics").status_code == 200
    me = client.get("/api/me", headers=H(keys.admin)).json()
    assert me["role"] == "admin" and me["manager_id"] == "A001"


def test_web_ui_is_served_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "供应链金融助手" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        body = client.get(asset).text
        assert body and "http://" not in body and "https://" not in body  # no CDN
    assert "https://" not in page.text and "http://" not in page.text


def test_openapi_spec_describes_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/models", "/api/sessions", "/api/kb/documents"} <= set(
        spec["paths"]
    )
