"""Vectors stored with the chunks: embedded after BM25 indexing, resumable, re-embedded when
the model changes, searched densely (a dense-only path) and fused by weight."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from finassist.embed import EMBEDDERS, register_embedder
from finassist.errors import InvalidInput
from finassist.kb import KnowledgeBase, get_embedder, vectors
from finassist.kb.sample import load_sample, sample_documents
from finassist.kb.types import Document, Filters, Section
from finassist.kb.vectors import passage_text, pending_count, text_key
from finassist.store import Database

DOCS = ("manual-reverse_factoring", "manual-early_payment", "law-d082")
TOPICS = ("保理", "折扣", "付款")  # the fake's three dimensions


class TopicEmbedder:
    """Three topic counts; stops with an error after ``fail_after`` passages when set."""

    dim = len(TOPICS)

    def __init__(self, name: str, fail_after: int | None = None) -> None:
        self.name = name
        self.fail_after = fail_after
        self.passages = 0

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        m = np.asarray([[t.count(w) for w in TOPICS] for t in texts], dtype=np.float32) + 1e-3
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: object = None
    ) -> np.ndarray:
        if self.fail_after is not None and self.passages + len(texts) > self.fail_after:
            raise KeyboardInterrupt
        self.passages += len(texts)
        return self._vectors(texts)


@pytest.fixture
def topics() -> Iterator[dict[str, TopicEmbedder]]:
    made: dict[str, TopicEmbedder] = {}

    def loader(path: str, *, threads: int | None = None) -> TopicEmbedder:
        made[path] = TopicEmbedder(f"topics:{path}", fail_after=30 if path == "flaky" else None)
        return made[path]

    register_embedder("topics")(loader)
    yield made
    EMBEDDERS.pop("topics")


def test_bm25_serves_at_once_and_an_interrupted_embedding_resumes(
    backend_url: str, topics: dict[str, TopicEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every backend: vectors are plain bytes in kb_chunks.embedding."""
    monkeypatch.setattr(vectors, "COMMIT_EVERY", 10)
    empty_db = Database(backend_url)
    empty_db.migrate()
    load_sample(KnowledgeBase(empty_db, precomputed=("other", {})), ids=DOCS)
    flaky = KnowledgeBase(empty_db, embedder=get_embedder("topics:flaky"))
    total = flaky.stats()["chunks"]
    assert pending_count(empty_db, flaky.embedder) == total > 30
    # BM25 answers while nothing is embedded; the hybrid search just has no dense side yet.
    assert flaky.search("反向保理申请材料").passages[0].doc_id == "manual-reverse_factoring"
    with pytest.raises(KeyboardInterrupt):
        flaky.embed_pending()
    left = pending_count(empty_db, flaky.embedder)
    assert 0 < left < total  # the committed batches stay
    steady = KnowledgeBase(empty_db, embedder=get_embedder("topics:flaky"))
    steady.embedder.fail_after = None
    assert steady.embed_pending() == left  # only what was missing
    assert steady.embedder.passages == left
    assert steady.embed_pending() == 0
    assert steady.stats()["embedded_chunks"] == total
    dense = KnowledgeBase(empty_db, embedder=steady.embedder, mode="dense")
    assert dense.search("折扣折扣").passages[0].doc_id == "manual-early_payment"
    empty_db.dispose()


def test_a_warm_search_sees_each_committed_batch_as_a_fresh_one_does(
    backend_url: str, topics: dict[str, TopicEmbedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A searching process keeps its vectors between searches and, while another process
    commits batches of vectors (the server's background worker), reads the new ones; its
    dense results equal those of a process that loads everything afresh, at every step,
    including when a model change drops the old vectors."""
    monkeypatch.setattr(vectors, "COMMIT_EVERY", 10)
    db = Database(backend_url)
    db.migrate()
    load_sample(KnowledgeBase(db, precomputed=("other", {})), ids=DOCS)
    questions = ("保理", "折扣折扣", "付款 保理", "反向保理的折扣")

    def ranked(kb: KnowledgeBase) -> list[list[tuple[str, float]]]:
        return [
            [(p.chunk_id, round(p.score, 6)) for p in kb.search(q, top_k=200).passages]
            for q in questions
        ]

    def fresh(name: str) -> KnowledgeBase:
        return KnowledgeBase(db, embedder=topics[name], mode="dense")

    worker = KnowledgeBase(db, embedder=get_embedder("topics:flaky"))
    warm = KnowledgeBase(db, embedder=worker.embedder, mode="dense")
    assert ranked(warm) == [[], [], [], []]  # nothing embedded yet
    with pytest.raises(KeyboardInterrupt):
        worker.embed_pending()  # three batches of 10 land, then it stops
    assert 0 < len(ranked(warm)[0]) < worker.stats()["chunks"]
    assert ranked(warm) == ranked(fresh("flaky"))
    worker.embedder.fail_after = None
    worker.embed_pending()
    assert ranked(warm) == ranked(fresh("flaky"))
    assert len(ranked(warm)[0]) == worker.stats()["chunks"]

    other = KnowledgeBase(db, embedder=get_embedder("topics:b"))
    other.embedder.fail_after = 15
    with pytest.raises(KeyboardInterrupt):
        other.embed_pending()  # the old model's vectors are dropped first
    assert ranked(warm) == ranked(fresh("flaky")) == [[], [], [], []]
    assert warm._dense_index is not None and warm._dense_index.refreshed_by == "full load"
    db.dispose()


def _topic_doc(doc_id: str, texts: Sequence[str], kind: str = "faq") -> Document:
    return Document(
        doc_id, f"文档{doc_id}", kind, "test", [Section(t, f"第{i}节") for i, t in enumerate(texts)]
    )


@pytest.mark.parametrize("tight", [False, True])
def test_after_other_processes_store_and_remove_documents_a_warm_search_reads_only_those(
    backend_url: str,
    topics: dict[str, TopicEmbedder],
    monkeypatch: pytest.MonkeyPatch,
    tight: bool,
) -> None:
    """Documents added (embedded at once, or later by the worker), removed, replaced, removed
    and stored again the same: after each, a searching process reads only those documents'
    vectors, and every chunk's cosine, the ranking and its ties are those of a process that
    loads everything afresh. ``tight``: no spare rows to append into, and the held vectors
    gathered rather than copied by runs."""
    if tight:
        monkeypatch.setattr(vectors, "SPARE_ROWS", 0)
        monkeypatch.setattr(vectors, "MAX_RUNS", 1)
    db = Database(backend_url)
    db.migrate()
    worker = KnowledgeBase(db, embedder=get_embedder("topics:a"), precomputed=("x", {}))
    load_sample(worker, ids=DOCS)
    warm = KnowledgeBase(db, embedder=worker.embedder, mode="dense")
    questions = ("保理", "折扣折扣", "付款 保理", "反向保理的折扣")

    def seen(kb: KnowledgeBase) -> list[object]:
        out: list[object] = []
        for q in questions:
            for kinds in ((), ("faq",)):
                out.append(
                    [(p.chunk_id, p.score) for p in kb.search(q, top_k=300, kinds=kinds).passages]
                )
        assert kb._dense_index is not None
        with kb.db.read() as conn:
            cosines = kb._dense_index.scores(conn, questions[3], Filters())
        out.append((cosines.ids.tolist(), cosines.sims.tolist()))  # every chunk, to the last bit
        return out

    def fresh() -> list[object]:
        return seen(KnowledgeBase(db, embedder=worker.embedder, mode="dense"))

    assert seen(warm) == fresh()
    index = warm._dense_index
    assert index is not None and index.full_loads == 1
    # Other processes: one embeds what it stores, one leaves that to the worker.
    embedding = KnowledgeBase(Database(backend_url), embedder=topics["a"])
    plain = KnowledgeBase(Database(backend_url))
    t6 = _topic_doc("t6", ["付款 折扣 保理"] * 3)
    known = {
        text_key(passage_text(t6.title, "第0节", "付款 折扣 保理")): topics["a"]._vectors(
            ["付款 折扣 保理"]
        )[0]
    }
    shipped = KnowledgeBase(Database(backend_url), precomputed=("topics:a", known))
    early = sample_documents(["manual-early_payment"])[0]
    steps = [
        ("added", lambda: embedding.add_documents([_topic_doc("t1", ["保理 折扣", "付款"] * 3)])),
        ("pending", lambda: plain.add_documents([_topic_doc("t2", ["保理 保理", "折扣 付款"])])),
        ("embedded", lambda: worker.embed_pending()),
        ("removed", lambda: embedding.remove("law-d082")),
        (
            "replaced",
            lambda: embedding.add_documents([_topic_doc("t1", ["折扣", "保理 付款"] * 2)]),
        ),
        ("same again", lambda: (plain.remove(early.id), embedding.add_documents([early]))),
        (
            "same, pending",
            lambda: (
                plain.remove("t1"),
                plain.add_documents([_topic_doc("t1", ["折扣", "保理 付款"] * 2)]),
            ),
        ),
        (
            "two at once",
            lambda: (plain.remove("t2"), embedding.add_documents([_topic_doc("t3", ["付款"] * 5)])),
        ),
        ("pending", lambda: plain.add_documents([_topic_doc("t4", ["保理 付款"] * 4)])),
        ("embedded", lambda: worker.embed_pending()),
        ("pending", lambda: plain.add_documents([_topic_doc("t5", ["折扣"] * 3)])),
        ("stored with vectors", lambda: shipped.add_prepared([shipped.prepare(t6)])),
        ("embedded", lambda: worker.embed_pending()),  # t5's vectors, before t6's
    ]
    for n, (label, step) in enumerate(steps):
        step()
        got = seen(warm)
        assert index.refreshed_by == ("new vectors" if label == "embedded" else "documents"), n
        assert index.full_loads == 1, n
        assert got == fresh(), label
    # The newest document removed and stored again (not embedded yet): on SQLite its chunks get
    # their old ids back, which the fingerprints cannot tell from no change at all, so that one
    # reads everything.
    plain.remove("t6")
    plain.add_documents([t6])
    assert seen(warm) == fresh()
    assert index.refreshed_by == ("full load" if db.dialect == "sqlite" else "documents")
    worker.embed_pending()
    assert seen(warm) == fresh()
    for kb in (embedding, plain, shipped):
        kb.db.dispose()
    db.dispose()


def test_another_model_re_embeds_everything(
    empty_db: Database, topics: dict[str, TopicEmbedder]
) -> None:
    first = KnowledgeBase(empty_db, embedder=get_embedder("topics:a"), precomputed=("x", {}))
    load_sample(first, ids=DOCS[:1])
    n = first.stats()["chunks"]
    second = KnowledgeBase(empty_db, embedder=get_embedder("topics:b"))
    assert pending_count(empty_db, second.embedder) == n
    assert second.embed_pending() == n
    assert {d["embedder"] for d in _docs(empty_db)} == {"topics:b"}


def _docs(db: Database) -> list[dict]:  # type: ignore[type-arg]
    from sqlalchemy import select

    from finassist.store.schema import kb_documents

    with db.read() as conn:
        return [dict(r) for r in conn.execute(select(kb_documents)).mappings()]


def test_dense_only_and_weights(empty_db: Database, topics: dict[str, TopicEmbedder]) -> None:
    kb = KnowledgeBase(
        empty_db, embedder=get_embedder("topics:a"), mode="dense", precomputed=("x", {})
    )
    load_sample(kb, ids=DOCS)
    # No word of this query is in the index, yet the dense path ranks by topic.
    dense = kb.search("折扣折扣", top_k=3)
    assert dense.mode == "dense" and dense.passages[0].doc_id == "manual-early_payment"
    bm25_only = KnowledgeBase(empty_db, embedder=kb.embedder, dense_weight=0.0)
    hybrid = KnowledgeBase(empty_db, embedder=kb.embedder)
    question = "大型企业向中小企业付款的期限"
    assert [p.chunk_id for p in bm25_only.search(question).passages] == [
        p.chunk_id for p in KnowledgeBase(empty_db).search(question).passages
    ]
    assert hybrid.search(question).mode == "hybrid"
    with pytest.raises(InvalidInput, match="检索方式"):
        KnowledgeBase(empty_db, embedder=kb.embedder, mode="sparse")
