"""Retrieval benchmark: our BM25 (SQLite FTS5, portable tables) beside rank_bm25 and bm25s.

All engines index the SAME jieba tokens (our tokenizer, title + heading + text per chunk).
Corpora: the law corpus (../shared/data/cn_finance_law_kb, 113 documents) plus the five product
manuals and the glossary; and the law chunks replicated to at least 100,000 chunks.
Quality on bench/data/retrieval_dev.jsonl (gold = "<doc_id>#<locator>": the article 第X条
of a statute, or the heading of a manual/glossary section). Each engine is built and queried in
a forked child, so "peak ΔRSS" is that engine's own memory (RSS peak minus RSS at fork).

    python bench/retrieval.py [--law-dir PATH] [--scale-chunks 100000] [--skip-table-at-scale]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from finassist.kb import KnowledgeBase
from finassist.kb.readers import markdown_sections
from finassist.kb.sample import sample_documents
from finassist.kb.types import Document
from finassist.store import Database

ROOT = Path(__file__).resolve().parent
LAW_DIR = ROOT.parent.parent / "shared" / "data" / "cn_finance_law_kb"
DEV = ROOT / "data" / "retrieval_dev.jsonl"
SAMPLE_IDS = (
    "manual-reverse_factoring", "manual-early_payment", "manual-order_financing",
    "manual-purchase_financing", "manual-distribution_financing", "glossary",
)  # fmt: skip
TOP = 10


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def law_documents(law_dir: Path) -> list[Document]:
    index = json.loads((law_dir / "documents_index.json").read_text("utf-8"))
    docs = []
    for entry in index:
        _, sections = markdown_sections((law_dir / entry["local_path"]).read_text("utf-8"))
        docs.append(
            Document(
                f"law-{entry['doc_id']}", entry["title"], "policy", entry["local_path"], sections
            )
        )
    return docs


def _percentiles(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def _quality(ranked: list[list[str]], dev: list[dict[str, Any]]) -> tuple[float, float]:
    recall = mrr = 0.0
    for ids, row in zip(ranked, dev, strict=True):
        gold = set(row["gold"])
        recall += any(i in gold for i in ids[:5])
        mrr += next((1 / r for r, i in enumerate(ids[:TOP], 1) if i in gold), 0.0)
    return recall / len(dev), mrr / len(dev)


# -- engines: build(prepared) -> search(query_tokens) -> list of chunk labels ------------------


def _ours(index: str, cache: bool) -> Callable[[list, Any], Callable[[list[str]], list[str]]]:
    def build(prepared: list, tmp: Any) -> Callable[[list[str]], list[str]]:
        from finassist.kb.types import Filters

        db = Database(f"sqlite:///{tmp}/{index}.db")
        db.migrate()
        kb = KnowledgeBase(db, index=index, cache=cache)
        for start in range(0, len(prepared), 200):
            kb.add_prepared(prepared[start : start + 200])
        kb.warm_up()  # part of the build: the in-memory snapshot is loaded here
        conn = db.read_engine.connect()  # one connection, as a server keeps one per worker
        labels = dict(
            conn.exec_driver_sql("SELECT c.id, c.doc_id || '#' || c.locator FROM kb_chunks c").all()
        )

        def search(tokens: list[str]) -> list[str]:
            return [labels[i] for i, _ in kb._bm25(conn, tokens, TOP, Filters())]

        return search

    return build


def _rank_bm25(prepared: list, tmp: Any) -> Callable[[list[str]], list[str]]:
    from rank_bm25 import BM25Okapi

    labels = [f"{d.id}#{c.locator}" for d, chunks, _ in prepared for c in chunks]
    model = BM25Okapi([t for _, _, toks in prepared for t in toks])

    def search(tokens: list[str]) -> list[str]:
        scores = model.get_scores(tokens)
        top = np.argpartition(-scores, TOP)[:TOP]
        return [labels[i] for i in top[np.argsort(-scores[top])] if scores[i] > 0]

    return search


def _bm25s(prepared: list, tmp: Any) -> Callable[[list[str]], list[str]]:
    import bm25s

    labels = [f"{d.id}#{c.locator}" for d, chunks, _ in prepared for c in chunks]
    model = bm25s.BM25()
    model.index([t for _, _, toks in prepared for t in toks], show_progress=False)

    def search(tokens: list[str]) -> list[str]:
        known = [t for t in tokens if t in model.vocab_dict]
        if not known:
            return []
        docs, scores = model.retrieve([known], k=TOP, show_progress=False, n_threads=1)
        return [labels[i] for i, s in zip(docs[0], scores[0], strict=True) if s > 0]

    return search


ENGINES = {
    "ours: FTS5 + memory snapshot": _ours("fts5", True),
    "ours: FTS5 in SQL only": _ours("fts5", False),
    "ours: portable tables, SQL": _ours("table", False),
    "rank_bm25 (BM25Okapi)": _rank_bm25,
    "bm25s": _bm25s,
}


def _run_child(name: str, prepared: list, queries: list[list[str]], repeat: int, out: Any) -> None:
    base = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        search = ENGINES[name](prepared, tmp)
        build_s = time.perf_counter() - t0
        for q in queries[:5]:  # warm up
            search(q)
        times, ranked = [], []
        for _ in range(repeat):
            ranked = []
            for q in queries:
                t = time.perf_counter()
                ranked.append(search(q))
                times.append((time.perf_counter() - t) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send({"build_s": build_s, "times": times, "ranked": ranked, "peak_mb": peak - base})


def measure(name: str, prepared: list, queries: list[list[str]], repeat: int) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=_run_child, args=(name, prepared, queries, repeat, child)
    )
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def scaled(prepared: list, target: int) -> list:
    law = [p for p in prepared if p[0].id.startswith("law-")]
    n = sum(len(c) for _, c, _ in law)
    copies = -(-target // n)
    return [(replace(d, id=f"{d.id}-r{k}"), c, t) for k in range(copies) for d, c, t in law]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--law-dir", type=Path, default=LAW_DIR)
    parser.add_argument("--scale-chunks", type=int, default=100_000)
    parser.add_argument("--skip-table-at-scale", action="store_true")
    args = parser.parse_args()

    kb = KnowledgeBase.__new__(KnowledgeBase)  # only its tokenizer/chunker, no database
    from finassist.kb.tokenize import Tokenizer

    kb.tokenizer = Tokenizer.default()
    kb.tokenizer.warm_up()
    t0 = time.perf_counter()
    docs = law_documents(args.law_dir) + sample_documents(SAMPLE_IDS)
    prepared = [KnowledgeBase.prepare(kb, d) for d in docs]
    tok_s = time.perf_counter() - t0
    dev = [json.loads(line) for line in DEV.read_text("utf-8").splitlines() if line.strip()]
    queries = [kb.tokenizer.query_tokens(row["query"]) for row in dev]
    law_chunks = sum(len(c) for d, c, _ in prepared if d.id.startswith("law-"))
    total = sum(len(c) for _, c, _ in prepared)
    print(
        f"corpus: {len(docs)} documents, {total:,} chunks ({law_chunks:,} law chunks; "
        f"reference article chunks: 6,468); chunk+jieba: {tok_s:.1f} s; dev queries: {len(dev)}"
    )

    big = scaled(prepared, args.scale_chunks)
    big_n = sum(len(c) for _, c, _ in big)
    header = f"{'corpus':<18}{'engine':<32}{'build s':>9}{'p50 ms':>9}{'p95 ms':>9}{'peak ΔRSS MB':>14}{'R@5':>7}{'MRR@10':>8}"
    print(header)
    print("-" * len(header))
    for label, corpus, repeat in (("law+manuals", prepared, 3), (f"scaled {big_n:,}", big, 1)):
        for name in ENGINES:
            if corpus is big and args.skip_table_at_scale and "tables" in name:
                continue
            r = measure(name, corpus, queries, repeat)
            p50, p95 = _percentiles(r["times"])
            quality = _quality(r["ranked"], dev) if corpus is prepared else None
            q = f"{quality[0]:>7.3f}{quality[1]:>8.3f}" if quality else f"{'—':>7}{'—':>8}"
            print(
                f"{label:<18}{name:<32}{r['build_s']:>9.1f}{p50:>9.2f}{p95:>9.2f}{r['peak_mb']:>14.0f}{q}",
                flush=True,
            )


if __name__ == "__main__":
    main()
