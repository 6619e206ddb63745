"""schemathesis fuzzes every operation of the OpenAPI spec (valid and invalid inputs) in process,
over ASGI, with a valid API key: no request may get a 5xx.

A scripted model is configured so that both ``model: "finassist"`` (the grounded assistant) and
a passed-through model are reachable; the number of examples is bounded to keep this fast.
(schemathesis' own ``pytest.from_fixture`` does not work with pytest 9, so the test drives
hypothesis itself, one operation and generation mode at a time.)
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks, positive_data_acceptance
from tests.serve.conftest import Keys, make_keys

from finassist.config import Settings
from finassist.llm.scripted import ScriptedBackend
from finassist.nlp.normalize import normalize_text
from finassist.serve import ServerOptions, create_app

# Examples per operation and mode; FINASSIST_TEST_FUZZ_EXAMPLES=500 fuzzes deeper (minutes).
MAX_EXAMPLES = int(os.environ.get("FINASSIST_TEST_FUZZ_EXAMPLES", "15"))
CHAT = "POST /v1/chat/completions"
QUESTIONS = (
    "华东汽车近12个月的现金流怎么样？",
    "远航汽配还有哪些应收发票没付？",
    "你好",
    "给他推荐个产品",
)
ANSWERS = 10_000
# 400s a schema-valid request may still get, by operation: rules JSON Schema cannot state.
BUSINESS_RULES = {
    # its own tools, a response schema the reply cannot fill, tool_choice without tools,
    # response_format for a passed-through model
    CHAT: {
        "tools_not_supported",
        "unsupported_schema",
        "invalid_tool_choice",
        "unsupported_response_format",
        "invalid_response_format",
        # the same Idempotency-Key sent again with another body
        "idempotency_key_reused",
    },
    # a file type the knowledge base cannot read, an empty file or name
    "POST /api/kb/documents": {"invalid_input", "empty_file", "invalid_filename"},
}  # scripted answers: more than the fuzzer can ask for


@pytest.fixture
def fuzzed_app(home: Path) -> tuple[FastAPI, str]:
    settings = Settings(
        home=home, llm_cache_ttl=0, models={"general": {"backend": "scripted", "role": "general"}}
    )
    app = create_app(settings, options=ServerOptions(rate_per_minute=0))
    backend = app.state.server.models.get("general")
    assert isinstance(backend, ScriptedBackend)
    backend.enqueue(*["好的，请问还有什么可以帮您？"] * ANSWERS)
    return app, make_keys(app.state.server.db).admin


def all_checks() -> list:
    """Every check schemathesis has (response schema, status codes, content types, headers,
    negative data rejection, auth, methods...), not only the default set."""
    load_all_checks()
    return CHECKS.get_all()


def with_model(case: schemathesis.Case, model: str, question: str) -> schemathesis.Case:
    """The case with its body's ``model`` replaced, the last message the user's ``question``
    and no session header (random model names, roles, empty texts and session ids stop at a
    4xx before anything is answered)."""
    if isinstance(case.body, dict) and "model" in case.body:
        case.body = {**case.body, "model": model}
        messages = case.body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            last = {**messages[-1], "role": "user", "content": question}
            case.body["messages"] = [*messages[:-1], last]
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-session-id"}
    return case


def fuzz(
    operation: schemathesis.APIOperation, mode: GenerationMode, key: str, model: str | None = None
) -> None:
    """Run ``MAX_EXAMPLES`` cases of ``operation``; a 5xx raises (with the case to reproduce).

    ``model`` replaces the generated model name (random names only reach the 404).
    """
    strategy = operation.as_strategy(mode)
    rules = BUSINESS_RULES.get(operation.label, set())
    checks = all_checks()
    if rules:
        # Schema-valid requests that break a rule JSON Schema cannot state get a 400 with that
        # rule's code: checked below instead of by positive_data_acceptance.
        checks = [c for c in checks if c is not positive_data_acceptance]
    if model is not None:
        questions = st.text(min_size=1, max_size=80).filter(normalize_text) | st.sampled_from(
            QUESTIONS
        )
        strategy = st.tuples(strategy, questions).map(lambda t: with_model(t[0], model, t[1]))

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=Keys.header(key), checks=checks)
        if mode is GenerationMode.POSITIVE and response.status_code == 400:
            assert response.json()["error"]["code"] in rules, response.text

    run()


def test_no_operation_answers_with_a_server_error(fuzzed_app: tuple[FastAPI, str]) -> None:
    app, key = fuzzed_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    labels: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        models = [None, "finassist", "general"] if operation.label == CHAT else [None]
        for mode, model in itertools.product(GenerationMode, models):
            try:
                fuzz(operation, mode, key, model)
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except Exception as exc:  # report every failing operation, not only the first
                failures.append(f"{operation.label} [{mode.value}, model={model}]: {exc}")
    assert CHAT in labels and "GET /v1/models" in labels
    assert not failures, "\n\n".join(failures)


ROW_TABLES = ("sessions", "turns", "ratings", "idempotency_keys")


def rows(app: FastAPI) -> dict[str, int]:
    from sqlalchemy import text

    with app.state.server.db.read() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in ROW_TABLES}


def chat_body(value: str, where: str) -> dict:
    body: dict = {"model": "finassist", "messages": [{"role": "user", "content": "你好"}]}
    if where == "content":
        body["messages"][0]["content"] = value
    elif where == "history":
        body["messages"] = [
            {"role": "user", "content": value},
            {"role": "assistant", "content": "好的"},
            {"role": "user", "content": "华东汽车的现金流"},
        ]
    elif where == "model":
        body["model"] = value
    elif where == "extra_key":
        body[value] = 1
    return body


@settings(
    max_examples=MAX_EXAMPLES * 4,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # nothing may be stored
)
@given(
    text=st.text(max_size=20),
    surrogate=st.integers(0xD800, 0xDFFF),
    where=st.sampled_from(["content", "history", "model", "extra_key", "rating"]),
)
def test_invalid_unicode_is_4xx_and_leaves_no_row(
    fuzzed_app: tuple[FastAPI, str], text: str, surrogate: int, where: str
) -> None:
    app, key = fuzzed_app
    value = text[: len(text) // 2] + chr(surrogate) + text[len(text) // 2 :]
    before = rows(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        if where == "rating":
            url, method = "/api/sessions/s1/turns/1/rating", "PUT"
            body = {"score": 3, "comment": value}
        else:
            url, method, body = "/v1/chat/completions", "POST", chat_body(value, where)
        raw = json.dumps(body).encode("ascii")  # a lone surrogate travels as a \\udXXX escape
        response = client.request(
            method,
            url,
            content=raw,
            headers=Keys.header(key) | {"content-type": "application/json"},
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_unicode"
    assert rows(app) == before


def test_huge_and_non_utf8_bodies_are_4xx_and_leave_no_row(fuzzed_app: tuple[FastAPI, str]) -> None:
    app, key = fuzzed_app
    limit = app.state.server.options.max_body_bytes
    headers = Keys.header(key) | {"content-type": "application/json"}
    huge = json.dumps(chat_body("现金流" * (limit // 6 + 1), "content"), ensure_ascii=False)
    many = json.dumps(
        {"model": "finassist", "messages": [{"role": "user", "content": "你好"}] * 50_000}
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        for raw, status in (
            (huge.encode("utf-8"), 413),
            (many.encode("utf-8"), 413),
            (b'{"model": "finassist", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
            (b'{"model": "finassist", "messages": [{"role": "user", "content": "\xe4\xbd"}]}', 400),
        ):
            response = client.post("/v1/chat/completions", content=raw, headers=headers)
            assert response.status_code == status, response.text[:200]
            assert response.json()["error"]["type"] == "invalid_request_error"

        def chunked():  # no Content-Length: counted while it arrives
            yield huge.encode("utf-8")

        streamed = client.post("/v1/chat/completions", content=chunked(), headers=headers)
        assert streamed.status_code == 413
    assert rows(app) == dict.fromkeys(ROW_TABLES, 0)
