"""An in-memory BM25 scorer loaded from the database index, for fast unfiltered queries.

The database stays the one source of truth (FTS5 or the portable tables); this is a read
cache of it in compressed-sparse form: for each term, the chunk ids that contain it and their
precomputed BM25 weights. A query sums the weight vectors of its terms with one
``np.bincount``. The cache is rebuilt when the index generation (chunk and token counts in
``kb_stats``, changed by every write) differs from the one it was built at.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import Connection, select, text

from finassist.kb.index import K1, B
from finassist.store.schema import kb_postings, kb_stats


def generation(conn: Connection) -> tuple[int, int, int]:
    """What identifies the index contents: (chunks, tokens, writes)."""
    stats = dict(conn.execute(select(kb_stats.c.name, kb_stats.c.value)).all())
    return int(stats.get("n_chunks", 0)), int(stats.get("n_tokens", 0)), int(stats.get("writes", 0))


class MemoryScorer:
    """BM25 (same k1, b and idf as :class:`~finassist.kb.index.TableIndex`) over a snapshot.

    Postings are held as one CSR structure (int32 rows, float32 weights per term), about
    8 bytes per posting, so 100,000 chunks take tens of megabytes.
    """

    def __init__(
        self, postings: Iterable[tuple[str, int, int, int]], gen: tuple[int, int, int]
    ) -> None:
        """``postings``: ``(term, chunk_id, tf, dl)`` rows."""
        self.generation = gen
        vocab: dict[str, int] = {}
        term_ids, chunk_col, tf_col = array("i"), array("q"), array("i")
        lengths: dict[int, int] = {}
        for term, cid, tf, dl in postings:
            term_ids.append(vocab.setdefault(term, len(vocab)))
            chunk_col.append(cid)
            tf_col.append(tf)
            lengths[cid] = dl
        self.chunk_ids = np.fromiter(sorted(lengths), dtype=np.int64, count=len(lengths))
        self.n = n = len(self.chunk_ids)
        dl_of = np.fromiter((lengths[int(c)] for c in self.chunk_ids), dtype=np.float32, count=n)
        avgdl = float(dl_of.mean()) if n else 1.0
        terms = np.frombuffer(term_ids, dtype=np.int32)
        rows = np.searchsorted(self.chunk_ids, np.frombuffer(chunk_col, dtype=np.int64))
        tf = np.frombuffer(tf_col, dtype=np.int32).astype(np.float32)
        order = np.argsort(terms, kind="stable")
        terms, rows, tf = terms[order], rows[order].astype(np.int32), tf[order]
        df = np.bincount(terms, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = K1 * (1 - B + B * dl_of[rows] / avgdl)
        self._weights = idf[terms] * tf * (K1 + 1) / (tf + norm)
        self._rows = rows
        self._start = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._vocab = vocab

    def search(self, tokens: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """``(chunk_id, score)`` best first."""
        ids = [self._vocab[t] for t in dict.fromkeys(tokens) if t in self._vocab]
        if not ids or not self.n:
            return []
        spans = [slice(self._start[i], self._start[i + 1]) for i in ids]
        rows = np.concatenate([self._rows[s] for s in spans])
        weights = np.concatenate([self._weights[s] for s in spans])
        scores = np.bincount(rows, weights=weights, minlength=self.n)
        k = min(limit, int(np.count_nonzero(scores)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((self.chunk_ids[top], -scores[top]))]
        return [(int(self.chunk_ids[i]), float(scores[i])) for i in top]


def load_postings(conn: Connection, index_name: str) -> Iterable[tuple[str, int, int, int]]:
    """The index's postings as ``(term, chunk_id, tf, dl)``, from FTS5, tsvector or the tables."""
    if index_name == "table":
        p = kb_postings.c
        for term, cid, tf, dl in conn.execute(select(p.term, p.chunk_id, p.tf, p.dl)):
            yield str(term), int(cid), int(tf), int(dl)
        return
    if index_name == "tsvector":
        rows = conn.execute(
            text(
                "SELECT u.lexeme, t.chunk_id, cardinality(u.positions), t.dl "
                "FROM kb_tsv t, unnest(t.tsv) u"
            )
        )
        for term, cid, tf, dl in rows:
            yield str(term), int(cid), int(tf), int(dl)
        return
    for rowid, tokens in conn.execute(text("SELECT rowid, tokens FROM kb_fts")):
        words = tokens.split()
        counts: dict[str, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        for w, tf in counts.items():
            yield w, int(rowid), tf, len(words)
