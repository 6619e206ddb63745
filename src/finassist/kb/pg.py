"""BM25 on PostgreSQL's own full-text machinery: a ``tsvector`` of our jieba tokens, a GIN index.

``kb_tsv`` (migration 0008, PostgreSQL only) holds one row per chunk: its tokens as a
``tsvector`` and its length in tokens. The ``tsvector`` is written as a literal
(``'保理':3,17 '合同':4``) from the exact tokens the other indexes store, not through
``to_tsvector``, whose parser would split tokens such as ``3.5%`` or ``A股`` differently from
jieba. A GIN index finds the chunks that contain a query word; document frequencies stay in
``kb_terms``, as for the portable index.

The score is BM25 computed in SQL with the same k1, b and idf as
:class:`~finassist.kb.index.TableIndex`, so the two rank alike: for each candidate chunk,
``setweight`` + ``ts_filter`` keep just the query's lexemes, and the number of positions of each
is its term frequency. Candidates are bounded the MaxScore way, so a common query word does not
make the query score a fifth of the index: the rarest words are scored first; the ``limit``-th
score found there is a floor the final ``limit``-th score cannot fall below, and a chunk that
contains none of the rarer words but only common ones whose best possible contributions sum
below that floor cannot enter the top ``limit``. Only chunks with one of the remaining
("essential") words are scored: the result is the exact BM25 top ``limit``.

A :class:`~finassist.kb.base.KnowledgeBase` searches an in-memory snapshot of this index
(:mod:`finassist.kb.memory`, filters as a mask; the same scores), checked against ``kb_stats``
on every search and refreshed with just the changed documents' chunks; scoring in SQL is what
``cache=False`` uses, and the reference the snapshot is tested against.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from finassist.kb.index import K1, B, _apply_df, _batches, bump_stats, query_terms
from finassist.kb.types import Filters

MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
FIRST_PASS = 4  # the first pass scores the rarest words until they cover this many x limit


def quote(token: str) -> str:
    """``token`` as a quoted lexeme of a tsvector or tsquery literal."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(tokens: Sequence[str]) -> str:
    """The tokens with their positions (1-based) as a ``tsvector`` literal."""
    positions: dict[str, list[str]] = {}
    for i, token in enumerate(tokens, start=1):
        positions.setdefault(token, []).append(str(min(i, MAX_POSITION)))
    return " ".join(f"{quote(t)}:{','.join(p)}" for t, p in positions.items())


def tsquery_literal(tokens: Sequence[str]) -> str:
    """Any of ``tokens``, as a ``tsquery`` literal."""
    return " | ".join(quote(t) for t in tokens)


_SCORE = """
SELECT m.chunk_id, sum(w.idf * u.tf * {k1p1} / (u.tf + {k1} * (1 - {b} + {b} * m.dl / :avgdl))) AS s
FROM (
    SELECT t.chunk_id, t.dl, ts_filter(setweight(t.tsv, 'A', CAST(:terms AS text[])), '{{a}}') AS q
    FROM kb_tsv t {join}
    WHERE t.tsv @@ CAST(:match AS tsquery) {where}
) m
CROSS JOIN LATERAL (
    SELECT lexeme, cardinality(positions) AS tf FROM unnest(m.q)
) u
JOIN unnest(CAST(:terms AS text[]), CAST(:idfs AS float8[])) AS w(term, idf) ON w.term = u.lexeme
GROUP BY m.chunk_id
ORDER BY s DESC, m.chunk_id
LIMIT :n
"""


class TsvectorIndex:
    """PostgreSQL full text (``kb_tsv``: tsvector + GIN), ranked by BM25 in SQL."""

    name = "tsvector"

    def add(self, conn: Connection, rows: Sequence[tuple[int, list[str]]]) -> None:
        if not rows:
            return
        conn.execute(
            text(
                "INSERT INTO kb_tsv (chunk_id, dl, tsv) VALUES (:id, :dl, CAST(:tsv AS tsvector))"
            ),
            [{"id": cid, "dl": len(t), "tsv": tsvector_literal(t)} for cid, t in rows],
        )
        df: Counter[str] = Counter()
        for _, tokens in rows:
            df.update(set(tokens))
        _apply_df(conn, df)
        bump_stats(conn, len(rows), sum(len(t) for _, t in rows))

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        df: Counter[str] = Counter()
        removed = total = 0
        for batch in _batches(list(chunk_ids)):
            ids = {"ids": [int(i) for i in batch]}
            for lexeme, n in conn.execute(
                text(
                    "SELECT u.lexeme, count(*) FROM kb_tsv t, unnest(t.tsv) u "
                    "WHERE t.chunk_id = ANY(:ids) GROUP BY u.lexeme"
                ),
                ids,
            ):
                df[str(lexeme)] -= int(n)
            counted = conn.execute(
                text(
                    "SELECT count(*), coalesce(sum(dl), 0) FROM kb_tsv WHERE chunk_id = ANY(:ids)"
                ),
                ids,
            ).one()
            removed, total = removed + int(counted[0]), total + int(counted[1])
            conn.execute(text("DELETE FROM kb_tsv WHERE chunk_id = ANY(:ids)"), ids)
        if df:
            _apply_df(conn, df)
        if removed:
            bump_stats(conn, -removed, -total)

    def search(
        self, conn: Connection, tokens: Sequence[str], limit: int, filters: Filters
    ) -> list[tuple[int, float]]:
        weights = query_terms(conn, tokens)
        if weights is None:
            return []
        n, total, dfs, idf = weights
        rarest = sorted(dfs, key=lambda t: (dfs[t], t))
        first, covered = [], 0
        for t in rarest:
            first.append(t)
            covered += dfs[t]
            if covered >= FIRST_PASS * limit:
                break
        score = _Scorer(conn, idf, total / n, limit, filters)
        best = score(first)
        if len(first) == len(rarest):
            return best
        floor = best[-1][1] if len(best) >= limit else 0.0
        # From the commonest word up: words whose best contributions together stay below the
        # floor cannot lift a chunk that has none of the other words into the top `limit`.
        essential, bound = list(rarest), 0.0
        for t in reversed(rarest):
            bound += idf[t] * (K1 + 1)
            if bound >= floor:
                break
            essential.remove(t)
        if set(essential) <= set(first):
            return best
        return score(essential)


class _Scorer:
    """BM25 over every query word for the chunks containing one of the ``match`` words."""

    def __init__(
        self,
        conn: Connection,
        idf: dict[str, float],
        avgdl: float,
        limit: int,
        filters: Filters,
    ) -> None:
        self.conn = conn
        join, where = "", []
        params: dict[str, Any] = {
            "terms": list(idf),
            "idfs": list(idf.values()),
            "avgdl": avgdl,
            "n": limit,
        }
        if not filters.empty:
            join = "JOIN kb_chunks c ON c.id = t.chunk_id JOIN kb_documents d ON d.id = c.doc_id"
            if filters.kinds:
                where.append("d.kind = ANY(:kinds)")
                params["kinds"] = list(filters.kinds)
            if filters.since is not None:
                where.append("d.doc_date >= :since")
                params["since"] = filters.since
            if filters.until is not None:
                where.append("d.doc_date <= :until")
                params["until"] = filters.until
        self.params = params
        self.sql = text(
            _SCORE.format(
                k1p1=K1 + 1,
                k1=K1,
                b=B,
                join=join,
                where="".join(f" AND {w}" for w in where),
            )
        )

    def __call__(self, match: Sequence[str]) -> list[tuple[int, float]]:
        rows = self.conn.execute(self.sql, {**self.params, "match": tsquery_literal(match)})
        return [(int(cid), float(s)) for cid, s in rows]
