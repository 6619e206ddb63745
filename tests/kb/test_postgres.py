"""PostgreSQL's own full-text index (tsvector + GIN, BM25 in SQL) on the real server: the
migration's copy of an older index, the same ranking as the portable index, filters, odd
tokens, removal."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from tests.conftest import new_database_url

from finassist.kb import KnowledgeBase
from finassist.kb.index import TableIndex
from finassist.kb.pg import TsvectorIndex
from finassist.kb.sample import load_sample
from finassist.kb.types import Document, Filters, Section
from finassist.store import Database

pytestmark = pytest.mark.integration

DOCS = ("manual-reverse_factoring", "law-d082")
QUESTIONS = (
    "大型企业向中小企业付款的期限",
    "反向保理需要哪些申请材料",
    "确权风险",
    "机关事业单位从中小企业采购后应当在多少日内付款",
    "核心企业 应收账款 保理 融资 期限 付款",  # common words: the MaxScore bound prunes
)


def _keys(kb: KnowledgeBase, hits: list[tuple[int, float]]) -> list[tuple[str, float]]:
    with kb.db.read() as conn:
        rows = kb._rows(conn, [cid for cid, _ in hits])
    return [(rows[cid]["key"], round(score, 6)) for cid, score in hits]


def _bm25(kb: KnowledgeBase, question: str, limit: int, filters: Filters | None = None) -> list:
    tokens = kb.tokenizer.query_tokens(question)
    with kb.db.read() as conn:
        return _keys(kb, kb.index.search(conn, tokens, limit, filters or Filters()))


def test_tsvector_index_ranks_exactly_like_the_portable_one(
    server_database: object, tmp_path: Path
) -> None:
    db = Database(new_database_url("postgresql", tmp_path, server_database))
    db.migrate()
    # Built before migration 0008 (the portable tables), then upgraded: the index is copied.
    load_sample(KnowledgeBase(db, index="table"), ids=DOCS)
    command.downgrade(db._alembic_config(), "0007")
    db.migrate()
    kb = KnowledgeBase(db, cache=False)  # PostgreSQL's default index, scored in SQL
    assert isinstance(kb.index, TsvectorIndex) and kb.stats()["index"] == "tsvector"
    reference_db = Database(f"sqlite:///{tmp_path / 'table.db'}")
    reference_db.migrate()
    reference = KnowledgeBase(reference_db, index="table", cache=False)
    load_sample(reference, ids=DOCS)
    assert isinstance(reference.index, TableIndex)
    for question in QUESTIONS:
        for limit in (3, 10, 50):  # small limits take the pruned second pass
            assert _bm25(kb, question, limit) == _bm25(reference, question, limit), question
    products = Filters(kinds=("product",))
    assert _bm25(kb, "保理 付款 期限", 5, products) == _bm25(
        reference, "保理 付款 期限", 5, products
    )
    cached = KnowledgeBase(db)  # the in-memory snapshot is loaded from kb_tsv
    assert cached.search(QUESTIONS[0]).passages[0].chunk_id == (
        reference.search(QUESTIONS[0]).passages[0].chunk_id
    )

    # Tokens that tsvector/tsquery syntax would trip on are stored and found as they are.
    section = Section("路径", "O'Neil 的 C:\\temp 目录 3.5% A股")
    kb.add_documents([Document("odd", "O'Neil 须知", "faq", "test", [section])])
    assert kb.search("O'Neil C:\\temp").passages[0].doc_id == "odd"
    assert kb.search("3.5% A股").passages[0].doc_id == "odd"

    # Writing and removing keep chunk counts and document frequencies exact.
    kb.remove("odd")
    kb.remove("law-d082")
    reference.remove("law-d082")
    with db.read() as conn, reference_db.read() as ref:
        terms = "SELECT term, df FROM kb_terms ORDER BY term"
        assert conn.execute(text(terms)).all() == ref.execute(text(terms)).all()
        assert conn.execute(text("SELECT count(*) FROM kb_tsv")).scalar() == kb.stats()["chunks"]
    assert _bm25(kb, QUESTIONS[0], 10) == _bm25(reference, QUESTIONS[0], 10)
    db.dispose()
    reference_db.dispose()
