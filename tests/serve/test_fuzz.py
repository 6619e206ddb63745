"""schemathesis fuzzes every operation of the OpenAPI spec (valid and invalid inputs) in process,
over ASGI, with a valid API key: no request may get a 5xx.

A scripted model is configured so that both ``model: "finassist"`` (the grounded assistant) and
a passed-through model are reachable; the number of examples is bounded to keep this fast.
(schemathesis' own ``pytest.from_fixture`` does not work with pytest 9, so the test drives
hypothesis itself, one operation and generation mode at a time.)
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from tests.serve.conftest import Keys, make_keys

from finassist.config import Settings
from finassist.llm.scripted import ScriptedBackend
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
ANSWERS = 10_000  # scripted answers: more than the fuzzer can ask for


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
    if model is not None:
        questions = st.text(min_size=1, max_size=80) | st.sampled_from(QUESTIONS)
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
        case.call_and_validate(headers=Keys.header(key), checks=[not_a_server_error])

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
