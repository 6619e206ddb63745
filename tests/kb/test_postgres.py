"""PostgreSQL's own full-text index (tsvector + GIN, BM25 in SQL) on the real server: the
migration's copy of an older index, the same ranking as the portable index, filters, odd
tokens, removal; the in-memory snapshot that serves searches, kept up to date with other
processes' writes by reading only what changed (on every backend)."""

from __future__ import annotations

from datetime import date
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


def _news(doc_id: str, day: date, text: str) -> Document:
    return Document(doc_id, f"{doc_id} 快讯", "news", "test", [Section("正文", text)], date=day)


def _hits(kb: KnowledgeBase, question: str, **filters: object) -> list[tuple[str, float]]:
    result = kb.search(question, top_k=5, **filters)  # type: ignore[arg-type]
    return [(p.chunk_id, round(p.score, 6)) for p in result.passages]


def test_searches_from_the_snapshot_match_sql_with_filters_and_see_other_writers(
    server_database: object, tmp_path: Path
) -> None:
    url = new_database_url("postgresql", tmp_path, server_database)
    db = Database(url)
    db.migrate()
    kb = KnowledgeBase(db)  # what a search uses: the in-memory snapshot, filters as a mask
    load_sample(kb, ids=DOCS)
    kb.add_documents(
        [
            _news("n1", date(2026, 3, 2), "保理公司 付款 期限 延长至九十天"),
            _news("n2", date(2026, 5, 20), "中小企业 应收账款 保理 融资 付款 提速"),
            _news("n3", date(2026, 9, 1), "核心企业 确权 风险 保理"),
        ]
    )
    in_sql = KnowledgeBase(db, cache=False)
    march_to_june = {"since": date(2026, 3, 1), "until": date(2026, 6, 30)}
    for filters in ({}, {"kinds": ("product",)}, {"kinds": ("news", "policy")}, march_to_june):
        for question in QUESTIONS:
            assert _hits(kb, question, **filters) == _hits(in_sql, question, **filters)
    assert [h[0] for h in _hits(kb, "保理 付款", **march_to_june)] == ["n1:0", "n2:0"]
    assert _hits(kb, "保理", since=date(2027, 1, 1)) == []  # undated chunks never match a date

    # Another process (its own engine and connections) adds and removes documents: the next
    # search sees it, filtered or not, without being told.
    other = KnowledgeBase(Database(url))
    other.add_documents([_news("n4", date(2026, 4, 1), "保理 付款 期限 新规 征求意见")])
    assert "n4:0" in [h[0] for h in _hits(kb, "保理 付款 期限 新规", **march_to_june)]
    assert _hits(kb, "新规 征求意见")[0][0] == "n4:0"
    other.remove("n4")
    other.remove("n2")
    assert [h[0] for h in _hits(kb, "保理 付款", **march_to_june)] == ["n1:0"]
    assert all(h[0] != "n4:0" for h in _hits(kb, "新规 征求意见"))
    for filters in ({}, {"kinds": ("news",)}, march_to_june):
        for question in QUESTIONS:
            assert _hits(kb, question, **filters) == _hits(in_sql, question, **filters)
    other.db.dispose()
    db.dispose()


# A word in more than a fifth of the chunks is dropped from a query: 保理 sits in 61 of the first
# 300 chunks, one too many; at 310 chunks it is kept.
COMMON, RARE, MID = "保理", "确权", "期限"


def _chunk_text(j: int) -> str:
    words = ["内容 说明"] + [COMMON] * (1 + j % 3) * (j < 61)
    words += [RARE] * (j % 60 == 7) + [MID] * (1 + j % 2) * (j % 25 == 3)
    return " ".join(words)


def _doc(doc_id: str, texts: list[str], kind: str = "news", day: date | None = None) -> Document:
    sections = [Section(f"第{i}节", t) for i, t in enumerate(texts)]
    return Document(doc_id, f"编号{doc_id}", kind, "test", sections, date=day)


def _everything(kb: KnowledgeBase) -> list[object]:
    """What searches return: the passages (key, score) and BM25's longer list, per question and
    filter."""
    seen: list[object] = []
    for question in (f"{COMMON} {RARE} {MID}", f"{COMMON} {MID}", "内容 补充", "保理 付款 期限"):
        for filters in ({}, {"kinds": ("policy",)}, {"since": date(2026, 4, 1)}):
            result = kb.search(question, top_k=8, **filters)  # type: ignore[arg-type]
            seen.append([(p.chunk_id, p.score) for p in result.passages])
            tokens = kb.tokenizer.query_tokens(question)
            with kb.db.read() as conn:
                seen.append(kb._bm25(conn, tokens, 100, Filters(**filters)))  # type: ignore[arg-type]
    return seen


def test_the_snapshot_reads_only_other_writers_changes_and_matches_a_fresh_load(
    backend_url: str,
) -> None:
    db = Database(backend_url)
    db.migrate()
    kb = KnowledgeBase(db)
    texts = [_chunk_text(j) for j in range(300)]

    def base(i: int) -> Document:
        kind, day = ("news", "policy")[i % 2], date(2026, 1 + i % 12, 1)
        return _doc(f"b{i}", texts[i * 10 : i * 10 + 10], kind, day)

    kb.add_documents([base(i) for i in range(30)])
    question = f"{COMMON} {RARE} {MID}"

    def cut() -> bool:  # whether 保理 is dropped: only the 17 chunks with 确权 or 期限 match
        return len(kb.search(question, top_k=100).passages) == 17

    assert cut()
    other = KnowledgeBase(Database(backend_url))  # another process: its own engine and snapshot
    steps = [
        lambda: other.add_documents([_doc("extra", ["内容 补充"] * 10, "faq")]),
        lambda: other.remove("extra"),
        lambda: other.remove("b3"),
        lambda: other.add_documents([_doc("b3", texts[30:40], "policy", date(2026, 4, 1))]),
        lambda: other.add_documents([_doc("b1", [f"{COMMON} 补充"] * 3, "policy")]),  # replaced
        lambda: (other.remove("b2"), other.add_documents([base(2)])),  # the same, new ids
        lambda: other.add_documents([_doc("empty", [], "faq"), _doc("n1", [RARE], "policy")]),
    ]
    cuts: list[bool] = []
    for n, step in enumerate(steps):
        step()
        got = _everything(kb)
        assert kb._scorer is not None and kb._scorer.refreshed_by == "update"  # not a full load
        assert got == _everything(KnowledgeBase(db)), n  # a fresh snapshot, loaded in full
        cuts.append(cut())
    # 保理 in 61 chunks is kept at 310 and cut at 300; in 51 of 290 kept, in 61 of 300 cut again;
    # in 54 of 293 (b1 replaced) and after kept.
    assert cuts == [False, True, False, True, False, False, False]
    with db.read() as conn:
        assert kb._scorer.n_chunks == conn.execute(text("SELECT count(*) FROM kb_chunks")).scalar()
    if kb.index.name != "fts5":  # FTS5's bm25() has its own idf
        in_sql = KnowledgeBase(db, cache=False)
        for filters in ({}, {"kinds": ("policy",)}):
            assert _hits(kb, question, **filters) == _hits(in_sql, question, **filters)
    other.db.dispose()
    db.dispose()
