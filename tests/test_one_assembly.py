"""The CLI, the server and the evaluator build the same assistant: same question, same answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.cli_helpers import home_with_sample, run_cli

from finassist.cli.evaluate import _subject
from finassist.config import Settings
from finassist.serve import create_app
from finassist.serve.keys import ApiKeyStore
from finassist.store import Database

QUESTION = "华东汽车近12个月的现金流怎么样？"


def test_ask_the_api_and_eval_give_the_same_answer(
    tmp_path: Path, sample_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_with_sample(tmp_path, sample_db)
    cli = run_cli(home, "ask", QUESTION, "--json", FINASSIST_KB__EMBEDDER="none")
    assert cli.returncode == 0, cli.stderr
    by_cli = json.loads(cli.stdout)["text"]

    settings = Settings(home=home)
    app = create_app(settings)
    key = ApiKeyStore(app.state.server.db).create("M001").key
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "finassist", "messages": [{"role": "user", "content": QUESTION}]},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == 200, response.text
    by_api = response.json()["choices"][0]["message"]["content"]

    subject = _subject(settings, "offline", None, "M001")  # what `eval run` evaluates
    by_eval = subject.assistant.ask(QUESTION, manager_id="M001", record=False).text

    assert by_cli == by_api == by_eval
    assert "[1]" in by_cli  # a real, cited answer, not a shared refusal
