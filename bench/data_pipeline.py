"""SFT data pipeline throughput, peak memory, and the dedup stage beside two baselines.

End to end: for each size a synthetic WeChat export is written, then ``build_dataset`` runs on it
in a fresh child process (so each size's peak RSS is its own). No database and no knowledge
documents: the figure is the chat-log path (structured samples cost ~50 ms per enterprise).

Dedup: on the (question + reply) texts of the samples, our stage (exact hash, MinHash LSH with a
reused sketch, TF-IDF+SVD embedding with LSH threshold clustering) beside, in the same process,
scikit-learn ``AgglomerativeClustering`` (single linkage, cosine distance threshold: the same
clusters as ours by definition, so the agreement measures our neighbour-search recall; O(n^2)
memory, so only at small sizes) and plain datasketch (a new MinHash per text, SHA-1 per n-gram,
``MinHashLSH`` query-then-insert).

    python bench/data_pipeline.py                          # 100k end to end, dedup at 2k/5k/10k
    python bench/data_pipeline.py --sizes 100000,1000000   # and 1M
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_build(size: int, workdir: Path) -> dict:
    """Child process: generate, build, and report times and peak memory."""
    from finassist.data.chatlog import write_sample_chatlog
    from finassist.data.config import config_from_dict
    from finassist.data.pipeline import build_dataset

    chat = workdir / f"chat_{size}.csv"
    start = time.perf_counter()
    write_sample_chatlog(chat, messages=size, seed=1)
    generate = time.perf_counter() - start
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0 = time.process_time()
    start = time.perf_counter()
    result = build_dataset(
        config_from_dict({"sources": {"database": False}}), [chat], workdir / f"out_{size}"
    )
    wall = time.perf_counter() - start
    stages = {s["name"]: s for s in result.report["stages"]}
    return {
        "size": size,
        "bytes": chat.stat().st_size,
        "generate_s": generate,
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before / 1024,
        "samples_built": stages["samples"]["out"],
        "index_size": stages["near"]["out"],
        "out": result.report["total"],
        "stage_s": {k: v["seconds"] for k, v in stages.items()},
    }


def dedup_texts(n_max: int) -> list[str]:
    """(question + reply) texts of chat samples, before any dedup, from a synthetic export."""
    from finassist.data import clean, sessions
    from finassist.data.chatlog import write_sample_chatlog
    from finassist.data.dedup import near_text
    from finassist.data.readers import ReadReport, read_messages
    from finassist.data.records import StageStats
    from finassist.nlp.pii import PiiMasker

    with tempfile.TemporaryDirectory() as tmp:
        chat = Path(tmp) / "chat.csv"
        write_sample_chatlog(chat, messages=n_max * 3, seed=3)
        st = StageStats("x", "x")
        msgs = read_messages([chat], ReadReport())
        msgs = clean.filter_messages(msgs, clean.FilterOptions(), st)
        msgs = clean.clean_messages(msgs, clean.CleanOptions(), st)
        msgs = sessions.merge_consecutive(msgs, 120, st)
        msgs = sessions.mask_messages(msgs, PiiMasker(), st)
        groups = sessions.sessionise(msgs, "gap", 1800, st)
        texts = [near_text(s) for s in sessions.build_samples(groups, sessions.SampleOptions(), st)]
    return texts[:n_max]


def ours_near(texts: list[str]) -> tuple[float, int]:
    from finassist.data.dedup import NearDuplicateIndex, NearDupOptions

    start = time.perf_counter()
    index = NearDuplicateIndex(NearDupOptions())
    kept = sum(index.add_if_new(str(i), t) for i, t in enumerate(texts))
    return time.perf_counter() - start, len(texts) - kept


def datasketch_near(texts: list[str]) -> tuple[float, int]:
    from datasketch import MinHash, MinHashLSH

    from finassist.data.dedup import normalise

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=64)
    dropped = 0
    for i, text in enumerate(texts):
        m = MinHash(num_perm=64, seed=1)
        norm = normalise(text)
        for j in range(max(1, len(norm) - 3)):
            m.update(norm[j : j + 4].encode("utf-8"))
        if lsh.query(m):
            dropped += 1
        else:
            lsh.insert(str(i), m)
    return time.perf_counter() - start, dropped


def semantic_compare(texts: list[str], threshold: float, with_agglomerative: bool) -> dict:
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    from finassist.data import semantic
    from finassist.embed import get_embedder

    start = time.perf_counter()
    vectors = semantic.embed_all(get_embedder("tfidf-svd", dim=96), texts)
    embed = time.perf_counter() - start
    start = time.perf_counter()
    ours = semantic.threshold_clusters(vectors, threshold, seed=0)
    cluster = time.perf_counter() - start
    # The same clusters through the LSH path even at small n (the default is exact below 4096).
    start = time.perf_counter()
    original = semantic.SMALL_EXACT
    semantic.SMALL_EXACT = 0
    try:
        lsh = semantic.threshold_clusters(vectors, threshold, seed=0)
    finally:
        semantic.SMALL_EXACT = original
    lsh_s = time.perf_counter() - start
    row = {
        "embed_s": embed,
        "ours_s": cluster,
        "ours_clusters": int(ours.max() + 1),
        "lsh_s": lsh_s,
    }
    row["lsh_clusters"] = int(lsh.max() + 1)
    if with_agglomerative:
        start = time.perf_counter()
        agg = AgglomerativeClustering(
            n_clusters=None, distance_threshold=1 - threshold, metric="cosine", linkage="single"
        ).fit_predict(vectors)
        row["agg_s"] = time.perf_counter() - start
        row["agg_clusters"] = int(agg.max() + 1)
        row["ari_ours"] = adjusted_rand_score(agg, ours)
        row["ari_lsh"] = adjusted_rand_score(agg, lsh)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="end-to-end sizes in messages")
    parser.add_argument("--dedup-sizes", default="2000,5000,10000", help="dedup comparison sizes")
    parser.add_argument(
        "--agglomerative-max", type=int, default=10000, help="largest n for sklearn"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_build(args.one, Path(args.workdir))))
        return

    print(f"{'messages':>10} {'file MB':>8} {'gen s':>6} {'build s':>8} {'cpu s':>7} {'msg/s':>8} "
          f"{'peak MB':>8} {'samples':>8} {'index':>7} {'out':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            proc = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--workdir", tmp],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"{size:>10,} {r['bytes'] / 2**20:>8.1f} {r['generate_s']:>6.1f} {r['wall_s']:>8.1f} "
                f"{r['cpu_s']:>7.1f} {size / r['wall_s']:>8,.0f} {r['peak_rss_mb']:>8.0f} "
                f"{r['samples_built']:>8,} {r['index_size']:>7,} {r['out']:>7,}"
            )
            print(
                "           stage seconds: "
                + ", ".join(f"{k} {v:.1f}" for k, v in r["stage_s"].items() if v)
            )
            for path in Path(tmp).glob(f"chat_{size}.csv"):
                path.unlink()

    sizes = [int(s) for s in args.dedup_sizes.split(",")]
    texts = dedup_texts(max(sizes))
    print(f"\ndedup stage on (question + reply) texts ({len(texts):,} available)")
    print(f"{'n':>7} {'ours near s':>11} {'dropped':>8} {'datasketch s':>12} {'dropped':>8} | "
          f"{'embed s':>7} {'ours s':>7} {'clusters':>8} {'lsh s':>6} {'clusters':>8} "
          f"{'agglo s':>7} {'clusters':>8} {'ARI':>5}")  # fmt: skip
    for n in sizes:
        part = texts[:n]
        ours_s, ours_d = ours_near(part)
        ds_s, ds_d = datasketch_near(part)
        sem = semantic_compare(part, 0.92, n <= args.agglomerative_max)
        agg = (
            f"{sem['agg_s']:>7.2f} {sem['agg_clusters']:>8,} {sem['ari_lsh']:>5.3f}"
            if "agg_s" in sem
            else f"{'-':>7} {'-':>8} {'-':>5}"
        )
        print(
            f"{n:>7,} {ours_s:>11.2f} {ours_d:>8,} {ds_s:>12.2f} {ds_d:>8,} | {sem['embed_s']:>7.2f} "
            f"{sem['ours_s']:>7.2f} {sem['ours_clusters']:>8,} {sem['lsh_s']:>6.2f} {sem['lsh_clusters']:>8,} {agg}"
        )
    load = Path("/proc/loadavg").read_text().split()[0]
    print(
        f"\n(peak MB: max RSS of the build's own process; cpu s: its CPU time; load average {load})"
    )


if __name__ == "__main__":
    main()
