"""An in-memory BM25 scorer loaded from the database index, for fast searches, filtered or not.

The database stays the one source of truth (FTS5, tsvector or the portable tables); this is a
read cache of it in compressed-sparse form: for each term, the rows of the chunks that contain
it and their term frequencies, plus each chunk's length, document, kind and date. A query sums
the BM25 contributions of its terms with one ``np.bincount``; a kind/date filter is a boolean
mask over the rows. The scores are those of :class:`~finassist.kb.index.TableIndex` and
:class:`~finassist.kb.pg.TsvectorIndex` (same k1, b, idf, pruning of very common words, and
chunk totals from ``kb_stats``), computed in float64 as SQL does, so the top ``limit`` is the
same as theirs.

The cache is refreshed when the index generation (chunk and token counts and a write counter in
``kb_stats``, changed in the same transaction as every write, by any process) differs from the
one it was built at. A refresh reads only what changed: the snapshot remembers each document's
fingerprint (its hash and the count, lowest, highest and sum of its chunk ids), so one grouped
query names the documents added, replaced or removed since; their old rows are dropped and the
new chunks' postings read and merged in. The BM25 parts that depend on the totals (the length
normalisation, idf, the common-word cut) are recomputed over all postings, so the result is the
snapshot a full load would build, to the last bit. A refresh that would read more than half the
snapshot, or whose totals do not match ``kb_stats`` while no other write is under way, is a full
load instead.

The generation is read before everything else, and the document fingerprints before the
postings: a write that lands while they load makes the next search see a newer generation, and
its documents differ from the fingerprints remembered, so that refresh reads them again.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, bindparam, func, select, text

from finassist.kb.index import K1, B, idf_of, prune
from finassist.kb.types import Filters
from finassist.store.schema import kb_chunks, kb_documents, kb_postings, kb_stats

MASKS_KEPT = 16  # filter masks remembered per snapshot (a mask is one byte per chunk)
MAX_DELTA_SHARE = 0.5  # a refresh reading more new chunks than this share of the snapshot ...
MIN_DELTA_CAP = 1000  # ... (and more than this many) is a full load instead
ID_BATCH = 1000  # ids per IN (...) when reading the changed documents' chunks

# A document as the snapshot last saw it: sha256, and the count, lowest, highest and sum of its
# chunk ids (a document removed and stored again has the same hash but new chunk ids).
Fingerprint = tuple[str, int, int, int, int]


def generation(conn: Connection) -> tuple[int, int, int]:
    """What identifies the index contents: (chunks, tokens, writes)."""
    stats = dict(conn.execute(select(kb_stats.c.name, kb_stats.c.value)).all())
    return int(stats.get("n_chunks", 0)), int(stats.get("n_tokens", 0)), int(stats.get("writes", 0))


def load_documents(conn: Connection) -> dict[str, Fingerprint]:
    """Every document's :data:`Fingerprint`."""
    c, d = kb_chunks.c, kb_documents.c
    query = (
        select(
            d.id,
            d.sha256,
            func.count(c.id),
            func.coalesce(func.min(c.id), 0),
            func.coalesce(func.max(c.id), 0),
            func.coalesce(func.sum(c.id), 0),
        )
        .select_from(kb_documents.outerjoin(kb_chunks, c.doc_id == d.id))
        .group_by(d.id, d.sha256)
    )
    return {
        str(i): (str(sha), int(n), int(lo), int(hi), int(total))
        for i, sha, n, lo, hi, total in conn.execute(query)
    }


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
    """Each chunk's document kind and date, for filters (``date`` 0 where there is none), and
    its document (``doc`` indexes ``docs``), for refreshes."""

    chunk_ids: np.ndarray  # int64, sorted
    kinds: list[str]
    kind: np.ndarray  # int16 index into ``kinds``
    date: np.ndarray  # int32 proleptic ordinal
    docs: list[str] | None = None
    doc: np.ndarray | None = None  # int32 index into ``docs``


@dataclass(frozen=True)
class _Chunks:
    """The snapshot's chunks, by id: document (-1: unknown, e.g. deleted while loading), kind
    (-1: unknown; matches no filter), date, length in tokens (0 without postings)."""

    ids: np.ndarray  # int64, sorted
    doc: np.ndarray  # int32
    kind: np.ndarray  # int16
    day: np.ndarray  # int32
    dl: np.ndarray  # int32

    def place(self, other: _Chunks) -> tuple[_Chunks, np.ndarray, np.ndarray]:
        """Both tables merged by id (the ids must be disjoint), with the new row of each of
        ``self``'s rows and of ``other``'s."""
        mine = np.arange(len(self.ids)) + np.searchsorted(other.ids, self.ids)
        theirs = np.arange(len(other.ids)) + np.searchsorted(self.ids, other.ids)
        n = len(mine) + len(theirs)

        def merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            out = np.empty(n, dtype=a.dtype)
            out[mine], out[theirs] = a, b
            return out

        table = _Chunks(
            merged(self.ids, other.ids),
            merged(self.doc, other.doc),
            merged(self.kind, other.kind),
            merged(self.day, other.day),
            merged(self.dl, other.dl),
        )
        return table, mine, theirs

    def subset(self, keep: np.ndarray) -> _Chunks:
        return _Chunks(
            self.ids[keep], self.doc[keep], self.kind[keep], self.day[keep], self.dl[keep]
        )


def _chunk_table(
    postings: Postings,
    attributes: Attributes | None,
    kinds: dict[str, int],
    docs: dict[str, int],
) -> tuple[_Chunks, np.ndarray]:
    """The chunks of ``postings`` and ``attributes`` as a table (kinds and documents coded by
    ``kinds`` and ``docs``, which grow), and the row of each posting."""
    ids = postings.chunk_ids
    if attributes is not None and len(attributes.chunk_ids):
        ids = np.concatenate([ids, attributes.chunk_ids])
    ids = np.unique(ids)
    n = len(ids)
    rows = np.searchsorted(ids, postings.chunk_ids).astype(np.int32)
    dl = np.zeros(n, dtype=np.int32)
    dl[rows] = postings.dl
    doc = np.full(n, -1, dtype=np.int32)
    kind = np.full(n, -1, dtype=np.int16)
    day = np.zeros(n, dtype=np.int32)
    if attributes is not None and len(attributes.chunk_ids):
        at = np.searchsorted(ids, attributes.chunk_ids)
        codes = [kinds.setdefault(k, len(kinds)) for k in attributes.kinds]
        kind[at] = np.asarray(codes, dtype=np.int16)[attributes.kind]
        day[at] = attributes.date
        if attributes.doc is not None and attributes.docs is not None:
            codes = [docs.setdefault(d, len(docs)) for d in attributes.docs]
            doc[at] = np.asarray(codes, dtype=np.int32)[attributes.doc]
    return _Chunks(ids, doc, kind, day, dl), rows


class MemoryScorer:
    """BM25 (same k1, b, idf and pruning as :class:`~finassist.kb.index.TableIndex`) over a
    snapshot.

    Postings are held as one CSR structure: an int32 row, the int32 term frequency and the
    float64 term-frequency part of BM25 per posting, 16 bytes; 105,792 law chunks (5.8 million
    postings) take about 95 MB.
    """

    def __init__(
        self,
        postings: Postings | Iterable[tuple[str, int, int, int]],
        gen: tuple[int, int, int],
        attributes: Attributes | None = None,
        documents: dict[str, Fingerprint] | None = None,
    ) -> None:
        """``postings`` (or ``(term, chunk_id, tf, dl)`` rows) read at generation ``gen``;
        ``attributes`` for filtered searches (without them a filter matches nothing);
        ``documents`` (read before the postings) for refreshes that read only what changed
        (without them every refresh is a full load)."""
        if not isinstance(postings, Postings):
            postings = Postings.from_rows(postings)
        kinds: dict[str, int] = {}
        docs: dict[str, int] = {}
        chunks, rows = _chunk_table(postings, attributes, kinds, docs)
        order = np.argsort(postings.term_ids, kind="stable")
        df = np.bincount(postings.term_ids, minlength=len(postings.terms))
        self._set(
            gen,
            postings.terms,
            {t: i for i, t in enumerate(postings.terms)},
            np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
            rows[order],
            postings.tf[order].astype(np.int32),
            chunks,
            kinds,
            docs,
            documents,
        )
        self.refreshed_by = "full load"

    def _set(
        self,
        gen: tuple[int, int, int],
        terms: list[str],
        vocab: dict[str, int],
        start: np.ndarray,
        rows: np.ndarray,
        tf: np.ndarray,
        chunks: _Chunks,
        kinds: dict[str, int],
        docs: dict[str, int],
        documents: dict[str, Fingerprint] | None,
    ) -> None:
        """Hold these postings (``terms[t]`` in rows ``rows[start[t]:start[t + 1]]``) and
        compute what BM25 takes from the totals."""
        self.generation = gen
        self._terms, self._vocab, self._start, self._rows, self._tf = terms, vocab, start, rows, tf
        self._chunks, self._kinds, self._docs, self._documents = chunks, kinds, docs, documents
        self.chunk_ids = chunks.ids
        self.n = len(chunks.ids)
        # The totals BM25 uses are the index's own (kb_stats), as the SQL scorers read them;
        # they count chunks without tokens too.
        if gen[0] > 0:
            n_chunks, n_tokens = gen[0], gen[1]
        else:
            with_postings = np.zeros(self.n, dtype=bool)
            with_postings[rows] = True
            n_chunks, n_tokens = int(with_postings.sum()), int(chunks.dl.sum(dtype=np.int64))
        self.n_chunks = max(n_chunks, 1)
        avgdl = n_tokens / self.n_chunks or 1.0
        # BM25's term-frequency part of each posting, tf * (k1 + 1) / (tf + k1 * (1 - b + b *
        # dl / avgdl)), the length part computed once per chunk; the idf is applied per query.
        norm = K1 * (1 - B + B * chunks.dl.astype(np.float64) / avgdl)
        denominator = norm[rows]
        denominator += tf
        self._tf_part = tf * (K1 + 1)
        self._tf_part /= denominator
        self._df = np.diff(start)
        self._attributes = (list(kinds), chunks.kind, chunks.day)
        self._masks: dict[Filters, np.ndarray] = {}

    def adds_up(self) -> bool:
        """Whether the snapshot holds as many chunks and tokens as ``kb_stats`` counted."""
        known = int(np.count_nonzero(self._chunks.doc >= 0))
        tokens = int(self._chunks.dl.sum(dtype=np.int64))
        return (known, tokens) == self.generation[:2]

    def updated(
        self, conn: Connection, index_name: str, gen: tuple[int, int, int]
    ) -> MemoryScorer | None:
        """This snapshot brought to generation ``gen`` by reading only the documents added,
        replaced or removed since it was loaded; None where a full load is needed (too much
        changed, or the result does not add up to ``kb_stats``)."""
        if self._documents is None or gen[0] <= 0 or self.generation[0] <= 0:
            return None
        documents = load_documents(conn)
        before = self._documents
        changed = [d for d, f in documents.items() if before.get(d) != f]
        gone = [d for d, f in before.items() if documents.get(d) != f]
        incoming = sum(documents[d][1] for d in changed)
        if incoming > max(MAX_DELTA_SHARE * self.n, MIN_DELTA_CAP):
            return None
        chunks = self._chunks
        codes = [self._docs[d] for d in {*changed, *gone} if d in self._docs]
        drop = (chunks.doc < 0) | np.isin(chunks.doc, codes)  # unknown rows are re-read too
        attributes = load_attributes(conn, changed) if changed else None
        if attributes is not None:
            drop |= np.isin(chunks.ids, attributes.chunk_ids)
        new_ids = attributes.chunk_ids if attributes is not None else np.zeros(0, dtype=np.int64)
        postings = Postings.from_rows(load_postings(conn, index_name, new_ids))
        scorer = self._merged(gen, drop, postings, attributes, documents)
        if not scorer.adds_up() and generation(conn) == gen:
            return None  # no write under way explains the difference: load it all
        return scorer

    def _merged(
        self,
        gen: tuple[int, int, int],
        drop: np.ndarray,
        postings: Postings,
        attributes: Attributes | None,
        documents: dict[str, Fingerprint],
    ) -> MemoryScorer:
        """A new snapshot: this one without the rows in ``drop``, with ``postings`` and
        ``attributes`` of new chunks. Within a term, old postings come first, then new ones
        (the order within a term does not change a score: each chunk has one posting per
        term, and a chunk's contributions are summed in the query's term order)."""
        kinds, docs = dict(self._kinds), dict(self._docs)
        new, new_rows = _chunk_table(postings, attributes, kinds, docs)
        start, rows, tf = self._start, self._rows, self._tf
        kept = self._chunks
        if drop.any():
            keep = ~drop
            kept = kept.subset(keep)
            keep_posting = keep[rows]
            dropped = np.flatnonzero(~keep_posting)
            start = start - np.searchsorted(dropped, start)
            rows, tf = rows[keep_posting], tf[keep_posting]
        table, old_at, new_at = kept.place(new)
        if drop.any() or (len(old_at) and old_at[-1] != len(old_at) - 1):
            # Rows renumbered: some were dropped, or new chunks sort between old ones.
            renumber = np.zeros(len(self._chunks.ids), dtype=np.int32)
            renumber[~drop] = old_at
            rows = renumber[rows]
        terms, vocab = list(self._terms), dict(self._vocab)
        for term in postings.terms:
            if term not in vocab:
                vocab[term] = len(terms)
                terms.append(term)
        code = np.asarray([vocab[t] for t in postings.terms], dtype=np.int64)
        term_ids = code[postings.term_ids]
        order = np.argsort(term_ids, kind="stable")
        term_ids = term_ids[order]
        # Each new posting goes at the end of its term's span (new terms after all old ones).
        start = np.concatenate([start, np.full(len(terms) - len(self._terms), start[-1])])
        at = start[term_ids + 1]
        rows = np.insert(rows, at, new_at[new_rows[order]].astype(np.int32))
        tf = np.insert(tf, at, postings.tf[order].astype(np.int32))
        counts = np.diff(start) + np.bincount(term_ids, minlength=len(terms))
        scorer = MemoryScorer.__new__(MemoryScorer)
        scorer._set(
            gen,
            terms,
            vocab,
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            rows,
            tf,
            table,
            kinds,
            docs,
            documents,
        )
        scorer.refreshed_by = "update"
        return scorer

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


def load_scorer(
    conn: Connection, index_name: str, previous: MemoryScorer | None = None
) -> MemoryScorer:
    """A snapshot of the index at its current generation: ``previous`` if that is still it,
    ``previous`` updated with what changed where it can be, else a full load: the generation
    first, then the document fingerprints, postings, and chunk attributes (read last, so a
    chunk in the postings lacks them only if it was deleted meanwhile)."""
    gen = generation(conn)
    if previous is not None:
        if previous.generation == gen:
            return previous
        updated = previous.updated(conn, index_name, gen)
        if updated is not None:
            return updated
    documents = load_documents(conn)
    if index_name == "tsvector":
        postings = _tsvector_postings(conn)
    else:
        postings = Postings.from_rows(load_postings(conn, index_name))
    return MemoryScorer(postings, gen, load_attributes(conn), documents)


def load_attributes(conn: Connection, doc_ids: Sequence[str] | None = None) -> Attributes:
    """The document, kind and date of every chunk (of the documents ``doc_ids`` if given)."""
    c, d = kb_chunks.c, kb_documents.c
    query = select(c.id, c.doc_id, d.kind, d.doc_date).join(kb_documents, d.id == c.doc_id)
    if doc_ids is None:
        queries = [query.order_by(c.id)]
    else:
        ids = list(doc_ids)
        queries = [
            query.where(c.doc_id.in_(ids[i : i + ID_BATCH])) for i in range(0, len(ids), ID_BATCH)
        ]
    chunk_ids, doc, kind, day = array("q"), array("i"), array("h"), array("i")
    kinds: dict[str, int] = {}
    docs: dict[str, int] = {}
    for part in queries:
        for cid, doc_id, k, when in conn.execute(part):
            chunk_ids.append(int(cid))
            doc.append(docs.setdefault(str(doc_id), len(docs)))
            kind.append(kinds.setdefault(str(k), len(kinds)))
            day.append(when.toordinal() if isinstance(when, date) else 0)
    ids_ = np.frombuffer(chunk_ids, dtype=np.int64)
    order = np.argsort(ids_, kind="stable")
    return Attributes(
        ids_[order],
        list(kinds),
        np.frombuffer(kind, dtype=np.int16)[order],
        np.frombuffer(day, dtype=np.int32)[order],
        list(docs),
        np.frombuffer(doc, dtype=np.int32)[order],
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


_POSTINGS_SQL = {
    "tsvector": "SELECT u.lexeme, t.chunk_id, cardinality(u.positions), t.dl "
    "FROM kb_tsv t, unnest(t.tsv) u",
    "fts5": "SELECT rowid, tokens FROM kb_fts",
}
_OF_CHUNKS = {"tsvector": " WHERE t.chunk_id IN :ids", "fts5": " WHERE rowid IN :ids"}


def load_postings(
    conn: Connection, index_name: str, chunk_ids: Sequence[int] | np.ndarray | None = None
) -> Iterable[tuple[str, int, int, int]]:
    """The index's postings as ``(term, chunk_id, tf, dl)``, from FTS5, tsvector or the tables;
    those of ``chunk_ids`` only, if given."""
    if chunk_ids is None:
        parts: list[list[int] | None] = [None]
    else:
        ids = [int(i) for i in chunk_ids]
        parts = [ids[i : i + ID_BATCH] for i in range(0, len(ids), ID_BATCH)]
    for part in parts:
        yield from _postings(conn, index_name, part)


def _postings(
    conn: Connection, index_name: str, ids: list[int] | None
) -> Iterable[tuple[str, int, int, int]]:
    if index_name == "table":
        p = kb_postings.c
        query = select(p.term, p.chunk_id, p.tf, p.dl)
        if ids is not None:
            query = query.where(p.chunk_id.in_(ids))
        for term, cid, tf, dl in conn.execute(query):
            yield str(term), int(cid), int(tf), int(dl)
        return
    sql = _POSTINGS_SQL[index_name]
    query, params = text(sql), {}
    if ids is not None:
        query = text(sql + _OF_CHUNKS[index_name]).bindparams(bindparam("ids", expanding=True))
        params = {"ids": ids}
    if index_name == "tsvector":
        for term, cid, tf, dl in conn.execute(query, params):
            yield str(term), int(cid), int(tf), int(dl)
        return
    for rowid, tokens in conn.execute(query, params):
        words = tokens.split()
        counts: dict[str, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        for w, tf in counts.items():
            yield w, int(rowid), tf, len(words)
