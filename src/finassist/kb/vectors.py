"""Dense vectors of the knowledge base: stored with the chunks, filled in batches, searched.

Vectors live in ``kb_chunks.embedding`` (float32 bytes: portable on SQLite, PostgreSQL and
MySQL); ``kb_documents.embedder`` names the model that made them. Embedding is separate from
ingesting: chunks are stored (and searchable by BM25) first, then :func:`embed_pending` fills
the chunks without a vector in committed batches, so an interrupted run resumes where it stopped
and a search meanwhile uses whatever is there. A chunk whose text has a precomputed vector
(the sample knowledge base ships them) is stored with it directly.

Search holds the vectors in memory (a float32 matrix in chunk id order); 100,000 chunks x 384
dims is 150 MB. It is brought up to date when the index generation or the vector counters move,
reading only what changed where it can: the new vectors when only vectors were added (the
background worker's batches), the vectors of the documents added, replaced or removed (told by
the document fingerprints of :mod:`.memory`) after a document write. The result is the matrix a
full load would read, row for row, so every score and tie is the same. Everything is read again
after a model change, a change of more than half the chunks, or document writes the fingerprints
do not account for (on SQLite a document removed and stored again can get its old chunk ids).
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from sqlalchemy import Connection, Row, and_, bindparam, func, insert, select, update

from finassist.embed import Embedder, EmbedProgress
from finassist.kb.index import filter_clause
from finassist.kb.memory import (
    MAX_DELTA_SHARE,
    MIN_DELTA_CAP,
    Fingerprint,
    generation,
    load_documents,
)
from finassist.kb.types import Filters
from finassist.store import Database
from finassist.store.schema import kb_chunks, kb_documents, kb_stats

SAMPLE_VECTORS = "data/sample_vectors.npz"
COMMIT_EVERY = 256  # chunks embedded per transaction
ID_BATCH = 500  # chunk ids per IN (...) when reading only the new vectors
VECTOR_WRITES = "vector_writes"  # kb_stats counter: the dense cache reloads when it moves
SPARE_SHARE, SPARE_ROWS = 16, 1024  # a held matrix has room for 1/16 more vectors + 1024
MAX_RUNS = 10_000  # a refresh moving the held vectors in more runs than this gathers them
VECTOR_RESETS = "vector_resets"  # kb_stats counter: another model's vectors dropped (full reload)


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
            _bump_vectors(conn, VECTOR_RESETS)  # searches read all vectors again
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


def _bump_vectors(conn: Connection, name: str = VECTOR_WRITES) -> None:
    changed = conn.execute(
        update(kb_stats).where(kb_stats.c.name == name).values(value=kb_stats.c.value + 1)
    ).rowcount
    if not changed:
        conn.execute(insert(kb_stats).values(name=name, value=1))


def _vector_generation(conn: Connection) -> tuple[int, ...]:
    """(chunks, tokens, writes) of the index, then the vector writes and resets."""
    stats = dict(
        conn.execute(
            select(kb_stats.c.name, kb_stats.c.value).where(
                kb_stats.c.name.in_((VECTOR_WRITES, VECTOR_RESETS))
            )
        ).all()
    )
    return (*generation(conn), int(stats.get(VECTOR_WRITES, 0)), int(stats.get(VECTOR_RESETS, 0)))


class DenseIndex:
    """Cosine search over the stored vectors of one embedder, held in memory.

    ``refreshed_by`` says how the last change was read: ``"full load"``, ``"new vectors"`` (only
    vectors were added since: those of the documents whose count of vectors moved) or
    ``"documents"`` (the added, replaced and removed documents' vectors, and any new vectors);
    ``full_loads`` counts the full loads.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()  # one refresh at a time; searches may run in threads
        self._generation: tuple[int, ...] | None = None
        self._ids = np.zeros(0, dtype=np.int64)  # sorted
        self._doc = np.zeros(0, dtype=np.int32)  # each row's document, a code in _codes
        # The vectors are the first rows of _buffer; rows past _exposed may be filled in place
        # (new chunks, with the highest ids, are appended without copying the rest).
        self._buffer = np.zeros((0, embedder.dim), dtype=np.float32)
        self._matrix = self._buffer
        self._exposed = 0
        self._codes: dict[str, int] = {}
        self._next_code = 0
        self._documents: dict[str, Fingerprint] | None = None  # as of the last load
        self.refreshed_by = ""
        self.full_loads = 0

    def _mine(self) -> tuple:  # type: ignore[type-arg]
        return (kb_chunks.c.embedding.is_not(None), kb_documents.c.embedder == self.embedder.name)

    def _load(self, conn: Connection) -> None:
        """Hold the vectors of the current generation, reading only what changed where it can.

        The generation is read first, then the document fingerprints and vector counts, then
        vectors: a write landing meanwhile moves the generation, so the next search looks
        again, and the documents it touched differ from the fingerprints remembered (or from
        the vectors held) and are read again."""
        gen = _vector_generation(conn)
        before = self._generation
        if gen == before:
            return
        if before is None or self._documents is None or before[4] != gen[4]:
            self._full_load(conn, gen)  # first load, or another model's vectors were dropped
            return
        how = "new vectors"
        if before[:3] != gen[:3]:
            if not self._read_documents(conn, before[2], gen[2]):
                self._full_load(conn, gen)
                return
            how = "documents"
        if before[3] != gen[3]:
            self._read_new_vectors(conn)
        self._generation, self.refreshed_by = gen, how

    def _full_load(self, conn: Connection, gen: tuple[int, ...]) -> None:
        documents = load_documents(conn)
        c, d = kb_chunks.c, kb_documents.c
        rows = conn.execute(
            select(c.id, c.doc_id, c.embedding)
            .join(kb_documents, d.id == c.doc_id)
            .where(*self._mine())
            .order_by(c.id)
        ).all()
        self._codes, self._next_code = {}, 0
        self._ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self._doc = self._coded(r[1] for r in rows)
        self._buffer, self._exposed = self._spare(len(rows)), 0
        self._buffer[: len(rows)] = self._stacked([r[2] for r in rows])
        self._show(len(rows))
        self._documents, self._generation = documents, gen
        self.refreshed_by = "full load"
        self.full_loads += 1

    def _spare(self, n: int) -> np.ndarray:
        """An empty buffer for ``n`` vectors and some more."""
        return np.empty((n + n // SPARE_SHARE + SPARE_ROWS, self.embedder.dim), dtype=np.float32)

    def _stacked(self, blobs: Sequence[bytes]) -> np.ndarray:
        joined = b"".join(blobs)
        return np.frombuffer(joined, dtype=np.float32).reshape(len(blobs), self.embedder.dim)

    def _show(self, n: int) -> None:
        """Search the first ``n`` rows of the buffer."""
        self._matrix = self._buffer[:n]
        self._exposed = max(self._exposed, n)

    def _coded(self, doc_ids: Iterable[object]) -> np.ndarray:
        """The codes of these documents (new ones get the next free code)."""
        out = array("i")
        for doc_id in doc_ids:
            code = self._codes.get(str(doc_id))
            if code is None:
                code = self._codes[str(doc_id)] = self._next_code
                self._next_code += 1
            out.append(code)
        return np.frombuffer(out, dtype=np.int32).copy()

    def _read_documents(self, conn: Connection, writes_before: int, writes: int) -> bool:
        """Drop the vectors of the documents replaced or removed since the last load, read
        those of the documents added or replaced. False (nothing changed here) where a full
        load is needed: more index writes than the changed fingerprints account for (each
        document stored or removed is at most one), or too many chunks to read."""
        documents = load_documents(conn)
        before = self._documents or {}
        changed = [i for i, f in documents.items() if before.get(i) != f]
        gone = [i for i, f in before.items() if documents.get(i) != f]
        explained = sum(before[i][1] > 0 for i in gone) + sum(documents[i][1] > 0 for i in changed)
        if writes - writes_before > explained:
            return False  # e.g. removed and stored again with the same chunk ids (SQLite)
        incoming = sum(documents[i][1] for i in changed)
        if incoming > max(MAX_DELTA_SHARE * len(self._ids), MIN_DELTA_CAP):
            return False
        # Rows of documents the last load did not know (added while it read) are read again.
        stale = {*changed, *gone} | (self._codes.keys() - before.keys())
        drop = np.isin(self._doc, [self._codes[i] for i in stale if i in self._codes])
        c, d = kb_chunks.c, kb_documents.c
        rows = []
        for start in range(0, len(changed), ID_BATCH):
            rows += conn.execute(
                select(c.id, c.doc_id, c.embedding)
                .join(kb_documents, d.id == c.doc_id)
                .where(*self._mine(), c.doc_id.in_(changed[start : start + ID_BATCH]))
            ).all()
        self._merge(drop, rows)
        for doc_id in stale - documents.keys():
            self._codes.pop(doc_id, None)  # no rows left
        self._documents = documents
        return True

    def _read_new_vectors(self, conn: Connection) -> None:
        """Bring the documents whose count of vectors differs from the rows held up to date:
        their chunks' ids with a vector, then the vectors not held yet. (Vectors are only
        ever added to a document between model changes, which load everything.)"""
        c, d = kb_chunks.c, kb_documents.c
        counts = dict(
            conn.execute(  # type: ignore[arg-type]
                select(c.doc_id, func.count())
                .join(kb_documents, d.id == c.doc_id)
                .where(*self._mine())
                .group_by(c.doc_id)
            ).all()
        )
        held = np.bincount(self._doc, minlength=self._next_code)
        names = {code: name for name, code in self._codes.items()}
        moved = [i for i, n in counts.items() if i not in self._codes or held[self._codes[i]] != n]
        moved += [names[code] for code in np.flatnonzero(held) if names[code] not in counts]
        if not moved:
            return
        present = []
        for start in range(0, len(moved), ID_BATCH):
            present += conn.execute(
                select(c.id)
                .join(kb_documents, d.id == c.doc_id)
                .where(*self._mine(), c.doc_id.in_(moved[start : start + ID_BATCH]))
            ).scalars()
        ids = np.asarray(present, dtype=np.int64)
        codes = [self._codes[i] for i in moved if i in self._codes]
        drop = np.isin(self._doc, codes) & ~np.isin(self._ids, ids)
        new = np.setdiff1d(ids, self._ids)
        rows = []
        for start in range(0, len(new), ID_BATCH):
            part = [int(i) for i in new[start : start + ID_BATCH]]
            rows += conn.execute(select(c.id, c.doc_id, c.embedding).where(c.id.in_(part))).all()
        self._merge(drop, rows)

    def _merge(self, drop: np.ndarray, rows: Sequence[Row[Any]]) -> None:
        """The held rows without ``drop`` (and without the ids of ``rows``), with ``rows``
        (``(id, doc_id, vector)``) in id order. The vectors are copied by runs of rows; new
        chunks after all held ones go into the buffer's spare rows without a copy."""
        new_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        order = np.argsort(new_ids, kind="stable")
        new_ids = new_ids[order]
        new_doc = self._coded(r[1] for r in rows)[order]
        vectors = self._stacked([r[2] for r in rows])[order]
        drop = drop | np.isin(self._ids, new_ids)
        n, k = len(self._ids), len(new_ids)
        if not drop.any():
            if not k:
                return
            if (not n or new_ids[0] > self._ids[-1]) and self._appendable(k):
                self._buffer[n : n + k] = vectors
                self._ids = np.concatenate([self._ids, new_ids])
                self._doc = np.concatenate([self._doc, new_doc])
                self._show(n + k)
                return
        kept = np.flatnonzero(~drop)
        kept_ids = self._ids[kept]
        at = np.searchsorted(kept_ids, new_ids) + np.arange(k)  # new rows' places
        total = len(kept) + k
        is_new = np.zeros(total, dtype=bool)
        is_new[at] = True
        dst = np.flatnonzero(~is_new)  # kept rows' places
        ids = np.empty(total, dtype=np.int64)
        doc = np.empty(total, dtype=np.int32)
        ids[dst], ids[at] = kept_ids, new_ids
        doc[dst], doc[at] = self._doc[kept], new_doc
        buffer = self._spare(total)
        # Runs of rows consecutive in both the old matrix and the new one, copied as slices.
        breaks = np.flatnonzero((np.diff(kept) != 1) | (np.diff(dst) != 1)) + 1
        starts = np.concatenate([[0], breaks]).astype(np.int64)
        ends = np.concatenate([breaks, [len(kept)]]).astype(np.int64)
        if len(starts) > MAX_RUNS:
            buffer[dst] = self._matrix[kept]
        else:
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                if b > a:
                    buffer[dst[a] : dst[a] + b - a] = self._matrix[kept[a] : kept[a] + b - a]
        buffer[at] = vectors
        self._buffer, self._ids, self._doc, self._exposed = buffer, ids, doc, 0
        self._show(total)

    def _appendable(self, k: int) -> bool:
        """Whether ``k`` vectors fit after the held ones in rows no search has seen (a search
        under way keeps the rows it started with)."""
        n = len(self._ids)
        return n == self._exposed and n + k <= len(self._buffer)

    def scores(self, conn: Connection, query: str, filters: Filters) -> DenseScores:
        """The cosine of ``query`` to every stored vector the filters allow."""
        with self._lock:
            self._load(conn)
            ids, matrix = self._ids, self._matrix
        if not len(ids):
            return DenseScores(ids, np.zeros(0, dtype=np.float32))
        qv = self.embedder.embed_queries([query])[0]
        sims = matrix @ qv
        where = filter_clause(filters)
        if where:
            allowed = conn.execute(
                select(kb_chunks.c.id)
                .join(kb_documents, kb_documents.c.id == kb_chunks.c.doc_id)
                .where(and_(*where))
            ).scalars()
            mask = np.isin(ids, np.fromiter(allowed, dtype=np.int64))
            sims = np.where(mask, sims, -np.inf)
        return DenseScores(ids, sims)

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
