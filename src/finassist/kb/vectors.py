"""Dense vectors of the knowledge base: stored with the chunks, filled in batches, searched.

Vectors live in ``kb_chunks.embedding`` (float32 bytes: portable on SQLite, PostgreSQL and
MySQL); ``kb_documents.embedder`` names the model that made them. Embedding is separate from
ingesting: chunks are stored (and searchable by BM25) first, then :func:`embed_pending` fills
the chunks without a vector in committed batches, so an interrupted run resumes where it stopped
and a search meanwhile uses whatever is there. A chunk whose text has a precomputed vector
(the sample knowledge base ships them) is stored with it directly.

Search holds the vectors in memory (a float32 matrix, rebuilt when the index generation
changes); 100,000 chunks x 384 dims is 150 MB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
from sqlalchemy import Connection, and_, bindparam, insert, select, update

from finassist.embed import Embedder, EmbedProgress
from finassist.kb.index import filter_clause
from finassist.kb.memory import generation
from finassist.kb.types import Filters
from finassist.store import Database
from finassist.store.schema import kb_chunks, kb_documents, kb_stats

SAMPLE_VECTORS = "data/sample_vectors.npz"
COMMIT_EVERY = 256  # chunks embedded per transaction
ID_BATCH = 500  # chunk ids per IN (...) when reading only the new vectors
VECTOR_WRITES = "vector_writes"  # kb_stats counter: the dense cache reloads when it moves


def passage_text(title: str, heading: str, text: str) -> str:
    """What is embedded for a chunk: its document title and heading, then the text."""
    return f"{title} {heading}\n{text}"


def text_key(text: str) -> str:
    """The key a precomputed vector is stored under: SHA-1 of the embedded text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as float32 bytes for ``kb_chunks.embedding``."""
    return np.asarray(vector, dtype=np.float32).tobytes()


def from_blobs(blobs: Sequence[bytes]) -> np.ndarray:
    """Stacked float32 vectors from ``kb_chunks.embedding`` values."""
    return np.vstack([np.frombuffer(b, dtype=np.float32) for b in blobs])


def sample_vectors() -> tuple[str, dict[str, np.ndarray]] | None:
    """The vectors shipped for the sample knowledge base: (embedder name, text key -> vector)."""
    path = resources.files("finassist.kb").joinpath(SAMPLE_VECTORS)
    if not path.is_file():
        return None
    with path.open("rb") as fh, np.load(fh) as data:
        keys, vectors = data["keys"].tolist(), data["vectors"].astype(np.float32)
        return str(data["embedder"]), dict(zip(keys, vectors, strict=True))


def write_sample_vectors(path: str, name: str, keys: Sequence[str], vectors: np.ndarray) -> None:
    """Save precomputed sample vectors (float16: half the size, the ranking is unchanged)."""
    np.savez_compressed(
        path, embedder=np.array(name), keys=np.array(list(keys)), vectors=vectors.astype(np.float16)
    )


def pending_count(db: Database, embedder: Embedder) -> int:
    """Chunks that have no vector from ``embedder`` yet."""
    with db.read() as conn:
        return len(_pending_ids(conn, embedder.name))


def _pending_ids(conn: Connection, name: str) -> list[int]:
    c, d = kb_chunks.c, kb_documents.c
    query = (
        select(c.id)
        .join(kb_documents, d.id == c.doc_id)
        .where((c.embedding.is_(None)) | (d.embedder.is_(None)) | (d.embedder != name))
        .order_by(c.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def embed_pending(
    db: Database,
    embedder: Embedder,
    *,
    batch_size: int = 32,
    progress: EmbedProgress | None = None,
) -> int:
    """Embed every chunk without a vector from ``embedder``; returns how many were embedded.

    Vectors of another model are dropped first (a model change re-embeds everything). Work is
    committed every few hundred chunks, so stopping loses at most one batch.
    """
    c, d = kb_chunks.c, kb_documents.c
    stale = select(d.id).where(d.embedder.is_not(None) & (d.embedder != embedder.name))
    with db.read() as conn:
        ids = _pending_ids(conn, embedder.name)
        has_stale = conn.execute(stale.limit(1)).first() is not None
    if has_stale:
        with db.write() as conn:
            conn.execute(update(kb_chunks).where(c.doc_id.in_(stale)).values(embedding=None))
            conn.execute(update(kb_documents).where(d.id.in_(stale)).values(embedder=None))
    done = 0
    for start in range(0, len(ids), COMMIT_EVERY):
        batch = ids[start : start + COMMIT_EVERY]
        with db.read() as conn:
            rows = conn.execute(
                select(c.id, c.doc_id, c.heading, c.text, d.title)
                .join(kb_documents, d.id == c.doc_id)
                .where(c.id.in_(batch))
                .order_by(c.id)
            ).all()
        texts = [passage_text(r.title, r.heading, r.text) for r in rows]
        base = done

        def step(n: int, _total: int, base: int = base) -> None:
            if progress is not None:
                progress(base + n, len(ids))

        vectors = embedder.embed_passages(texts, batch_size=batch_size, progress=step)
        with db.write() as conn:
            conn.execute(
                update(kb_chunks)
                .where(c.id == bindparam("cid"))
                .values(embedding=bindparam("vec")),
                [{"cid": r.id, "vec": to_blob(v)} for r, v in zip(rows, vectors, strict=True)],
            )
            docs = sorted({r.doc_id for r in rows})
            conn.execute(update(kb_documents).where(d.id.in_(docs)).values(embedder=embedder.name))
            _bump_vectors(conn)  # searches reload the vectors
        done += len(rows)
    return done


def _bump_vectors(conn: Connection) -> None:
    changed = conn.execute(
        update(kb_stats).where(kb_stats.c.name == VECTOR_WRITES).values(value=kb_stats.c.value + 1)
    ).rowcount
    if not changed:
        conn.execute(insert(kb_stats).values(name=VECTOR_WRITES, value=1))


def _vector_generation(conn: Connection) -> tuple[int, ...]:
    writes = conn.execute(
        select(kb_stats.c.value).where(kb_stats.c.name == VECTOR_WRITES)
    ).scalar_one_or_none()
    return (*generation(conn), int(writes or 0))


class DenseIndex:
    """Cosine search over the stored vectors of one embedder, held in memory."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._generation: tuple[int, ...] | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 1), dtype=np.float32)

    def _load(self, conn: Connection) -> None:
        """Hold the vectors of the current generation. When only vectors were added since the
        last load (the index itself unchanged: the background worker committing a batch), only
        the new chunks' vectors are read; any other change reads them all."""
        gen = _vector_generation(conn)
        if gen == self._generation:
            return
        c, d = kb_chunks.c, kb_documents.c
        mine = (c.embedding.is_not(None), d.embedder == self.embedder.name)
        if self._generation is not None and self._generation[:-1] == gen[:-1]:
            ids = np.fromiter(
                conn.execute(
                    select(c.id).join(kb_documents, d.id == c.doc_id).where(*mine).order_by(c.id)
                ).scalars(),
                dtype=np.int64,
            )
            kept = np.isin(self._ids, ids)
            new = np.setdiff1d(ids, self._ids, assume_unique=True)
            rows = []
            for start in range(0, len(new), ID_BATCH):
                part = [int(i) for i in new[start : start + ID_BATCH]]
                rows += conn.execute(select(c.id, c.embedding).where(c.id.in_(part))).all()
            added = {int(r[0]): r[1] for r in rows}
            all_ids = np.concatenate([self._ids[kept], np.array(list(added), dtype=np.int64)])
            parts = [self._matrix[kept]] + ([from_blobs(list(added.values()))] if added else [])
            order = np.argsort(all_ids, kind="stable")
            self._ids, self._matrix = all_ids[order], np.vstack(parts)[order]
            self._generation = gen
            return
        rows = conn.execute(
            select(c.id, c.embedding)
            .join(kb_documents, d.id == c.doc_id)
            .where(*mine)
            .order_by(c.id)
        ).all()
        self._ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self._matrix = (
            from_blobs([r[1] for r in rows])
            if rows
            else np.zeros((0, self.embedder.dim), dtype=np.float32)
        )
        self._generation = gen

    def scores(self, conn: Connection, query: str, filters: Filters) -> DenseScores:
        """The cosine of ``query`` to every stored vector the filters allow."""
        self._load(conn)
        if not len(self._ids):
            return DenseScores(self._ids, np.zeros(0, dtype=np.float32))
        qv = self.embedder.embed_queries([query])[0]
        sims = self._matrix @ qv
        where = filter_clause(filters)
        if where:
            allowed = conn.execute(
                select(kb_chunks.c.id)
                .join(kb_documents, kb_documents.c.id == kb_chunks.c.doc_id)
                .where(and_(*where))
            ).scalars()
            mask = np.isin(self._ids, np.fromiter(allowed, dtype=np.int64))
            sims = np.where(mask, sims, -np.inf)
        return DenseScores(self._ids, sims)

    def search(
        self, conn: Connection, query: str, limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        """``(chunk_id, cosine)`` best first, among the chunks the filters allow."""
        return self.scores(conn, query, filters).top(limit)


@dataclass(frozen=True)
class DenseScores:
    """One query's cosine to each stored vector: ``ids`` (sorted) and ``sims`` (-inf: filtered)."""

    ids: np.ndarray
    sims: np.ndarray

    def top(self, limit: int) -> list[tuple[int, float]]:
        """``(chunk_id, cosine)`` best first, at most ``limit``."""
        k = min(limit, int(np.isfinite(self.sims).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-self.sims, k - 1)[:k]
        top = top[np.argsort(-self.sims[top], kind="stable")]
        return [(int(self.ids[i]), float(self.sims[i])) for i in top]

    def of(self, chunk_ids: Sequence[int]) -> dict[int, float]:
        """The cosine of each of ``chunk_ids`` that has a vector (chunks without one are absent)."""
        if not len(self.ids) or not chunk_ids:
            return {}
        wanted = np.asarray(chunk_ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.ids, wanted), 0, len(self.ids) - 1)
        hit = self.ids[pos] == wanted
        return {int(c): float(self.sims[p]) for c, p, h in zip(wanted, pos, hit, strict=True) if h}


def weighted_rrf(
    rankings: Sequence[tuple[Sequence[int], float]], k: int = 60
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion with a weight per ranking: ``sum(w / (k + rank))``, best first.

    >>> weighted_rrf([([1, 2, 3], 1.0), ([3, 1], 1.0)])[0][0]
    1
    """
    scores: dict[int, float] = {}
    for ranking, weight in rankings:
        if weight <= 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
