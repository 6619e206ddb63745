"""Fixtures for evaluation: the team's task files and a tiny knowledge base."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from finassist.kb import Document, KnowledgeBase, Section
from finassist.store import Database

EVAL_DATA = Path(__file__).resolve().parents[1] / "data" / "eval"

DOCS = {
    "doc-pledge": (
        "应收账款质押登记",
        "应收账款质押应当在中国人民银行征信中心动产融资统一登记公示系统办理质押登记。",
    ),
    "doc-factoring": (
        "保理业务说明",
        "保理商受让供应商的应收账款，提供融资、应收账款管理与催收服务。",
    ),
    "doc-discount": ("票据贴现", "票据贴现利息等于票面金额乘以贴现率再乘以贴现天数除以三百六十。"),
}


@pytest.fixture(scope="session")
def eval_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('evalkb') / 'kb.db'}")
    db.migrate()
    kb = KnowledgeBase(db)
    kb.add_documents(
        [
            Document(doc_id, title, "policy", f"test://{doc_id}", [Section(title, text)])
            for doc_id, (title, text) in DOCS.items()
        ]
    )
    yield kb
    db.dispose()
