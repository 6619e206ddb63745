"""An in-memory BM25 scorer loaded from the database index, for fast searches, filtered or not.

The database stays the one source of truth (FTS5, tsvector or the portable tables); this is a
read cache of it in compressed-sparse form: for each term, the rows of the chunks that contain
it and their term frequencies, plus each chunk's length, document kind and date. A query sums
the BM25 contributions of its terms with one ``np.bincount``; a kind/date filter is a boolean
mask over the rows. The scores are those of :class:`~finassist.kb.index.TableIndex` and
:class:`~finassist.kb.pg.TsvectorIndex` (same k1, b, idf, pruning of very common words, and
chunk totals from ``kb_stats``), computed in float64 as SQL does, so the top ``limit`` is the
same as theirs.

The cache is rebuilt when the index generation (chunk and token counts and a write counter in
``kb_stats``, changed in the same transaction as every write, by any process) differs from the
one it was built at. The generation is read before the postings: a write that lands while they
load makes the next search see a newer generation and load again.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, select, text

from finassist.kb.index import K1, B, idf_of, prune
from finassist.kb.types import Filters
from finassist.store.schema import kb_chunks, kb_documents, kb_postings, kb_stats

MASKS_KEPT = 16  # filter masks remembered per snapshot (a mask is one byte per chunk)


def generation(conn: Connection) -> tuple[int, int, int]:
    """What identifies the index contents: (chunks, tokens, writes)."""
    stats = dict(conn.execute(select(kb_stats.c.name, kb_stats.c.value)).all())
    return int(stats.get("n_chunks", 0)), int(stats.get("n_tokens", 0)), int(stats.get("writes", 0))


@dataclass
class Postings:
    """The index's postings as flat columns: ``terms[term_ids[i]]`` occurs ``tf[i]`` times in
    chunk ``chunk_ids[i]``, which is ``dl[i]`` tokens long."""

    terms: list[str]
    term_ids: np.ndarray  # int32
    chunk_ids: np.ndarray  # int64
    tf: np.ndarray  # int32
    dl: np.ndarray  # int32

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, int, int, int]]) -> Postings:
        """From ``(term, chunk_id, tf, dl)`` rows."""
        vocab: dict[str, int] = {}
        term_ids, chunk_ids, tf, dl = array("i"), array("q"), array("i"), array("i")
        for term, cid, n, length in rows:
            term_ids.append(vocab.setdefault(term, len(vocab)))
            chunk_ids.append(cid)
            tf.append(n)
            dl.append(length)
        return cls(
            list(vocab),
            np.frombuffer(term_ids, dtype=np.int32),
            np.frombuffer(chunk_ids, dtype=np.int64),
            np.frombuffer(tf, dtype=np.int32),
            np.frombuffer(dl, dtype=np.int32),
        )


@dataclass(frozen=True)
class Attributes:
    """Each chunk's document kind and date, for filters (``date`` 0 where there is none)."""

    chunk_ids: np.ndarray  # int64, sorted
    kinds: list[str]
    kind: np.ndarray  # int16 index into ``kinds``
    date: np.ndarray  # int32 proleptic ordinal


class MemoryScorer:
    """BM25 (same k1, b, idf and pruning as :class:`~finassist.kb.index.TableIndex`) over a
    snapshot.

    Postings are held as one CSR structure: an int32 row and the float64 term-frequency part
    of BM25 per posting, 12 bytes; 105,792 law chunks (5.8 million postings) take about 70 MB.
    """

    def __init__(
        self,
        postings: Postings | Iterable[tuple[str, int, int, int]],
        gen: tuple[int, int, int],
        attributes: Attributes | None = None,
    ) -> None:
        """``postings`` (or ``(term, chunk_id, tf, dl)`` rows) read at generation ``gen``;
        ``attributes`` for filtered searches (without them a filter matches nothing)."""
        if not isinstance(postings, Postings):
            postings = Postings.from_rows(postings)
        self.generation = gen
        self.chunk_ids, rows = np.unique(postings.chunk_ids, return_inverse=True)
        self.n = len(self.chunk_ids)
        dl = np.zeros(self.n, dtype=np.float64)
        dl[rows] = postings.dl
        # The totals BM25 uses are the index's own (kb_stats), as the SQL scorers read them;
        # they count chunks without tokens too.
        n_chunks, n_tokens = (gen[0], gen[1]) if gen[0] > 0 else (self.n, int(dl.sum()))
        self.n_chunks = max(n_chunks, 1)
        avgdl = n_tokens / self.n_chunks or 1.0
        order = np.argsort(postings.term_ids, kind="stable")
        self._rows = rows[order].astype(np.int32)
        tf = postings.tf[order].astype(np.float64)
        # BM25's term-frequency part of each posting; the idf is applied per query, from df.
        self._tf_part = tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl[self._rows] / avgdl))
        df = np.bincount(postings.term_ids, minlength=len(postings.terms))
        self._df = df
        self._start = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._vocab = {t: i for i, t in enumerate(postings.terms)}
        self._attributes = self._align(attributes)
        self._masks: dict[Filters, np.ndarray] = {}

    def _align(self, attributes: Attributes | None) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Kind and date per snapshot row; rows without attributes (chunks deleted after the
        postings were read) get kind -1 and match no filter."""
        kind = np.full(self.n, -1, dtype=np.int16)
        day = np.zeros(self.n, dtype=np.int32)
        if attributes is None or not len(attributes.chunk_ids) or not self.n:
            return ([] if attributes is None else attributes.kinds), kind, day
        at = np.searchsorted(attributes.chunk_ids, self.chunk_ids)
        at = np.minimum(at, len(attributes.chunk_ids) - 1)
        found = attributes.chunk_ids[at] == self.chunk_ids
        kind[found] = attributes.kind[at[found]]
        day[found] = attributes.date[at[found]]
        return attributes.kinds, kind, day

    def _blocked(self, filters: Filters) -> np.ndarray:
        """True for the rows a filter excludes."""
        mask = self._masks.get(filters)
        if mask is None:
            kinds, kind, day = self._attributes
            allowed = kind >= 0
            if filters.kinds:
                codes = [i for i, k in enumerate(kinds) if k in filters.kinds]
                allowed &= np.isin(kind, codes)
            if filters.since is not None:
                allowed &= day >= filters.since.toordinal()
            if filters.until is not None:
                allowed &= (day > 0) & (day <= filters.until.toordinal())
            mask = ~allowed
            if len(self._masks) >= MASKS_KEPT:
                self._masks = {}  # a new dict, not a cleared one: searches may run in threads
            self._masks[filters] = mask
        return mask

    def search(
        self, tokens: Sequence[str], limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """``(chunk_id, score)`` best first, within ``filters``."""
        dfs = {t: int(self._df[self._vocab[t]]) for t in tokens if t in self._vocab}
        kept = prune(dfs, self.n_chunks)
        if not kept or not self.n:
            return []
        spans = [(self._start[i], self._start[i + 1], i) for i in map(self._vocab.get, kept)]
        rows = np.concatenate([self._rows[a:b] for a, b, _ in spans])
        weights = np.concatenate(
            [self._tf_part[a:b] * idf_of(int(self._df[i]), self.n_chunks) for a, b, i in spans]
        )
        scores = np.bincount(rows, weights=weights, minlength=self.n)
        if filters is not None and not filters.empty:
            np.putmask(scores, self._blocked(filters), 0.0)
        hits = np.flatnonzero(scores > 0)
        if len(hits) > limit > 0:
            # The limit-th best score, then every hit at or above it: ties at the cut are kept
            # for the sort below. (A partition of the whole score vector, mostly zeros and
            # equal values, is many times slower.)
            found = scores[hits]
            floor = np.partition(found, len(found) - limit)[len(found) - limit]
            hits = hits[found >= floor]
        # Rows are in chunk id order: equal scores go to the lower ids, as SQL orders them.
        hits = hits[np.lexsort((hits, -scores[hits]))][: max(limit, 0)]
        return [(int(self.chunk_ids[i]), float(scores[i])) for i in hits]


def load_scorer(conn: Connection, index_name: str) -> MemoryScorer:
    """A snapshot of the index: the generation first, then postings, then chunk attributes
    (read last, so a chunk in the postings lacks them only if it was deleted meanwhile)."""
    gen = generation(conn)
    if index_name == "tsvector":
        postings = _tsvector_postings(conn)
    else:
        postings = Postings.from_rows(load_postings(conn, index_name))
    return MemoryScorer(postings, gen, load_attributes(conn))


def load_attributes(conn: Connection) -> Attributes:
    """The document kind and date of every chunk."""
    c, d = kb_chunks.c, kb_documents.c
    ids, kind, day = array("q"), array("h"), array("i")
    kinds: dict[str, int] = {}
    for cid, k, when in conn.execute(
        select(c.id, d.kind, d.doc_date).join(kb_documents, d.id == c.doc_id).order_by(c.id)
    ):
        ids.append(int(cid))
        kind.append(kinds.setdefault(str(k), len(kinds)))
        day.append(when.toordinal() if isinstance(when, date) else 0)
    return Attributes(
        np.frombuffer(ids, dtype=np.int64),
        list(kinds),
        np.frombuffer(kind, dtype=np.int16),
        np.frombuffer(day, dtype=np.int32),
    )


# One row per word: the chunks holding it, its count in each and their lengths, as text that
# numpy parses in C (millions of postings would be millions of Python rows otherwise).
_TSV_POSTINGS = """
SELECT u.lexeme, string_agg(t.chunk_id::text, ','), string_agg(cardinality(u.positions)::text, ','),
       string_agg(t.dl::text, ',')
FROM kb_tsv t, unnest(t.tsv) u
GROUP BY u.lexeme
"""


def _tsvector_postings(conn: Connection) -> Postings:
    terms: list[str] = []
    counts: list[int] = []
    ids, tfs, dls = [], [], []
    for lexeme, chunk_ids, tf, dl in conn.execute(text(_TSV_POSTINGS)):
        column = np.fromstring(chunk_ids, dtype=np.int64, sep=",")
        terms.append(str(lexeme))
        counts.append(len(column))
        ids.append(column)
        tfs.append(np.fromstring(tf, dtype=np.int32, sep=","))
        dls.append(np.fromstring(dl, dtype=np.int32, sep=","))
    if not terms:
        empty = np.zeros(0, dtype=np.int32)
        return Postings([], empty, np.zeros(0, dtype=np.int64), empty, empty)
    return Postings(
        terms,
        np.repeat(np.arange(len(terms), dtype=np.int32), counts),
        np.concatenate(ids),
        np.concatenate(tfs),
        np.concatenate(dls),
    )


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
