"""BM25 indexes inside the application database, behind one small protocol.

* :class:`Fts5Index` (SQLite, the default): an FTS5 table over the jieba tokens joined by
  spaces; FTS5 does the BM25 ranking (k1=1.2, b=0.75).
* :class:`~finassist.kb.pg.TsvectorIndex` (PostgreSQL, the default there): a tsvector of the
  tokens with a GIN index, BM25 computed in SQL over a bounded set of candidates.
* :class:`TableIndex` (MySQL, and the others on request): our own inverted index in
  ``kb_terms`` / ``kb_postings``; one grouped SQL query sums the BM25 contributions.

Both take the same tokens, so their rankings agree up to the idf variant.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from sqlalchemy import Connection, and_, case, delete, func, insert, literal, select, text, update

from finassist.kb.types import Filters
from finassist.store.schema import kb_chunks, kb_documents, kb_postings, kb_stats, kb_terms

K1 = 1.2
B = 0.75
BATCH = 500
# Query words in more than this share of the chunks are dropped (when rarer words remain):
# they barely change the ranking (idf near zero) but make a query touch most of the index.
MAX_DF_SHARE = 0.2
MIN_DF_CAP = 50  # ... but in a small KB no word is too common
KEEP_AT_LEAST = 2


def prune(dfs: dict[str, int], n: int) -> list[str]:
    """The query words worth scoring: those present, without the very common ones."""
    present = sorted((df, t) for t, df in dfs.items() if df > 0)
    cap = max(MIN_DF_CAP, MAX_DF_SHARE * n)
    kept = [t for df, t in present if df <= cap]
    return kept if len(kept) >= KEEP_AT_LEAST else [t for _, t in present[:KEEP_AT_LEAST]]


class BM25Index(Protocol):
    """Where chunk tokens are indexed and ranked; all calls run inside the caller's transaction."""

    name: str

    def add(self, conn: Connection, rows: Sequence[tuple[int, list[str]]]) -> None:
        """Index chunks given as ``(kb_chunks.id, tokens)``."""

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        """Drop chunks from the index."""

    def search(
        self, conn: Connection, tokens: Sequence[str], limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        """``(kb_chunks.id, score)`` best first; higher is better."""


def idf_of(df: int, n: int) -> float:
    """BM25 idf of a word in ``df`` of ``n`` chunks (Lucene's, never negative)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def filter_clause(filters: Filters) -> list:  # type: ignore[type-arg]
    """SQL conditions on ``kb_documents`` for a :class:`Filters`."""
    where = []
    if filters.kinds:
        where.append(kb_documents.c.kind.in_(filters.kinds))
    if filters.since is not None:
        where.append(kb_documents.c.doc_date >= filters.since)
    if filters.until is not None:
        where.append(kb_documents.c.doc_date <= filters.until)
    return where


def _batches(items: Sequence, size: int = BATCH) -> Iterable[Sequence]:  # type: ignore[type-arg]
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fts_phrase(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


class Fts5Index:
    """SQLite FTS5 over pre-tokenised text (``kb_fts``, created by migration 0003)."""

    name = "fts5"

    def add(self, conn: Connection, rows: Sequence[tuple[int, list[str]]]) -> None:
        if rows:
            conn.execute(
                text("INSERT INTO kb_fts(rowid, tokens) VALUES (:id, :tokens)"),
                [{"id": cid, "tokens": " ".join(tokens)} for cid, tokens in rows],
            )
            bump_stats(conn, len(rows), sum(len(t) for _, t in rows))

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        total = 0
        for batch in _batches(list(chunk_ids)):
            total += int(
                conn.execute(
                    select(func.coalesce(func.sum(kb_chunks.c.n_tokens), 0)).where(
                        kb_chunks.c.id.in_(batch)
                    )
                ).scalar_one()
            )
            conn.execute(
                text(f"DELETE FROM kb_fts WHERE rowid IN ({','.join(str(int(i)) for i in batch)})")
            )
        if chunk_ids:
            bump_stats(conn, -len(chunk_ids), -total)

    def search(
        self, conn: Connection, tokens: Sequence[str], limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        if not tokens:
            return []
        n = conn.execute(select(kb_stats.c.value).where(kb_stats.c.name == "n_chunks")).scalar()
        vocab = text("SELECT doc FROM kb_fts_vocab WHERE term = :t")  # '=' uses the index
        dfs = {t: int(conn.execute(vocab, {"t": t}).scalar() or 0) for t in tokens}
        tokens = prune(dfs, int(n or 0))
        if not tokens:
            return []
        match = " OR ".join(_fts_phrase(t) for t in tokens)
        if filters.empty:
            rows = conn.execute(
                text(
                    "SELECT rowid, bm25(kb_fts) FROM kb_fts WHERE kb_fts MATCH :q ORDER BY rank LIMIT :n"
                ),
                {"q": match, "n": limit},
            )
            return [(int(r[0]), -float(r[1])) for r in rows]
        # Filtered: rank within the matching kinds/dates (a join on the chunk and its document).
        where, params = ["kb_fts MATCH :q"], {"q": match, "n": limit}
        if filters.kinds:
            names = [f":k{i}" for i in range(len(filters.kinds))]
            where.append(f"d.kind IN ({','.join(names)})")
            params.update({f"k{i}": k for i, k in enumerate(filters.kinds)})
        if filters.since is not None:
            where.append("d.doc_date >= :since")
            params["since"] = filters.since.isoformat()
        if filters.until is not None:
            where.append("d.doc_date <= :until")
            params["until"] = filters.until.isoformat()
        sql = (
            "SELECT kb_fts.rowid, bm25(kb_fts) AS s FROM kb_fts "
            "JOIN kb_chunks c ON c.id = kb_fts.rowid JOIN kb_documents d ON d.id = c.doc_id "
            f"WHERE {' AND '.join(where)} ORDER BY s LIMIT :n"
        )
        return [(int(r[0]), -float(r[1])) for r in conn.execute(text(sql), params)]


def query_terms(
    conn: Connection, tokens: Sequence[str]
) -> tuple[int, int, dict[str, int], dict[str, float]] | None:
    """(chunks, tokens, document frequency and idf of each query term kept) of the index; None
    when nothing can match."""
    if not tokens:
        return None
    stats = dict(conn.execute(select(kb_stats.c.name, kb_stats.c.value)).all())
    n, total = int(stats.get("n_chunks", 0)), int(stats.get("n_tokens", 0))
    if n <= 0:
        return None
    dfs = dict(
        conn.execute(
            select(kb_terms.c.term, kb_terms.c.df).where(kb_terms.c.term.in_(list(tokens)))
        ).all()
    )
    kept = prune(dfs, n)
    if not kept:
        return None
    return n, total, {t: dfs[t] for t in kept}, {t: idf_of(dfs[t], n) for t in kept}


def bump_stats(conn: Connection, chunks: int, tokens: int) -> None:
    """Keep chunk/token totals (for BM25) and a write counter (for caches) up to date."""
    present = dict(conn.execute(select(kb_stats.c.name, kb_stats.c.value)).all())
    for name, delta in (("n_chunks", chunks), ("n_tokens", tokens), ("writes", 1)):
        if name in present:
            conn.execute(
                update(kb_stats)
                .where(kb_stats.c.name == name)
                .values(value=kb_stats.c.value + delta)
            )
        else:
            conn.execute(insert(kb_stats).values(name=name, value=delta))


def _apply_df(conn: Connection, deltas: Counter[str]) -> None:
    """Add ``deltas`` to the document frequencies; terms that fall to zero are dropped."""
    terms = sorted(deltas)
    existing: set[str] = set()
    for batch in _batches(terms):
        existing.update(
            conn.execute(select(kb_terms.c.term).where(kb_terms.c.term.in_(batch))).scalars()
        )
    new = [{"term": t, "df": deltas[t]} for t in terms if t not in existing and deltas[t] > 0]
    if new:
        conn.execute(insert(kb_terms), new)
    changed = [{"t": t, "d": deltas[t]} for t in terms if t in existing and deltas[t]]
    if changed:
        conn.execute(text("UPDATE kb_terms SET df = df + :d WHERE term = :t"), changed)
    if any(d < 0 for d in deltas.values()):
        conn.execute(delete(kb_terms).where(kb_terms.c.df <= 0))


class TableIndex:
    """A portable inverted index in ordinary tables; scoring is one grouped SQL query."""

    name = "table"

    def add(self, conn: Connection, rows: Sequence[tuple[int, list[str]]]) -> None:
        postings = []
        df: Counter[str] = Counter()
        total = 0
        for cid, tokens in rows:
            counts = Counter(tokens)
            total += len(tokens)
            df.update(counts.keys())
            postings.extend(
                {"term": t, "chunk_id": cid, "tf": n, "dl": len(tokens)} for t, n in counts.items()
            )
        for batch in _batches(postings, 5000):
            conn.execute(insert(kb_postings), list(batch))
        _apply_df(conn, df)
        bump_stats(conn, len(rows), total)

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        df: Counter[str] = Counter()
        total = 0
        ids = list(chunk_ids)
        for batch in _batches(ids):
            for term, n in conn.execute(
                select(kb_postings.c.term, func.count())
                .where(kb_postings.c.chunk_id.in_(batch))
                .group_by(kb_postings.c.term)
            ):
                df[term] -= int(n)
            total += int(
                conn.execute(
                    select(func.coalesce(func.sum(kb_chunks.c.n_tokens), 0)).where(
                        kb_chunks.c.id.in_(batch)
                    )
                ).scalar_one()
            )
            conn.execute(delete(kb_postings).where(kb_postings.c.chunk_id.in_(batch)))
        if df:
            _apply_df(conn, df)
        bump_stats(conn, -len(ids), -total)

    def search(
        self, conn: Connection, tokens: Sequence[str], limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        weights = query_terms(conn, tokens)
        if weights is None:
            return []
        n, total, _, idf = weights
        avgdl = total / n
        p = kb_postings.c
        weight = case(*[(p.term == t, literal(w)) for t, w in idf.items()], else_=literal(0.0))
        tf = p.tf * 1.0
        score = func.sum(weight * tf * (K1 + 1) / (tf + K1 * (1 - B + B * p.dl / avgdl))).label("s")
        query = select(p.chunk_id, score).where(p.term.in_(list(idf)))
        where = filter_clause(filters)
        if where:
            query = (
                query.join(kb_chunks, kb_chunks.c.id == p.chunk_id)
                .join(kb_documents, kb_documents.c.id == kb_chunks.c.doc_id)
                .where(and_(*where))
            )
        query = query.group_by(p.chunk_id).order_by(score.desc(), p.chunk_id).limit(limit)
        return [(int(cid), float(s)) for cid, s in conn.execute(query)]


def _tsvector() -> BM25Index:
    from finassist.kb.pg import TsvectorIndex  # it builds on this module

    return TsvectorIndex()


INDEXES: dict[str, Callable[[], BM25Index]] = {
    "fts5": Fts5Index,
    "table": TableIndex,
    "tsvector": _tsvector,
}
DEFAULT_INDEX = {"sqlite": "fts5", "postgresql": "tsvector"}
NATIVE_DIALECT = {"fts5": "sqlite", "tsvector": "postgresql"}  # indexes one engine alone has


def default_index_name(dialect: str) -> str:
    """FTS5 on SQLite, tsvector + GIN on PostgreSQL, the portable tables elsewhere (MySQL)."""
    return DEFAULT_INDEX.get(dialect, "table")
