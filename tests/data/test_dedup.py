"""Exact, near-duplicate (MinHash LSH) and semantic (embedding + threshold clustering) dedup."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from finassist.data import semantic
from finassist.data.dedup import NearDupOptions, exact_dedup, near_dedup, require_data_extra
from finassist.data.records import Sample, StageStats
from finassist.embed import get_embedder
from finassist.errors import InvalidInput


def sample(sid: str, question: str, reply: str) -> Sample:
    return Sample(
        sid,
        "chat",
        "g",
        [{"role": "user", "content": question}, {"role": "assistant", "content": reply}],
    )


def test_exact_dedup_ignores_spacing_punctuation_and_case() -> None:
    samples = [
        sample("a", "利率多少？", "4% 左右"),
        sample("b", "利率多少", "4%左右。"),
        sample("c", "利率多少", "5%"),
    ]
    st = StageStats("exact", "x")
    assert [s.id for s in exact_dedup(samples, st)] == ["a", "c"]
    assert st.dropped == {"完全重复": 1}


def test_near_dedup_drops_small_variations_and_keeps_different_answers() -> None:
    reply = "应收账款融资需要营业执照、近两年财务报表、购销合同和对应的增值税发票，材料齐全后三个工作日内出审批意见。"
    samples = [
        sample("a", "需要哪些材料？", reply),
        sample("b", "需要哪些材料", reply.replace("三个", "3个")),
        sample(
            "c",
            "需要哪些材料？",
            "反向保理由核心企业确权，供应商凭应付账款确认提前回款，利率通常更低。",
        ),
    ]
    st = StageStats("near", "x")
    assert [s.id for s in near_dedup(samples, NearDupOptions(), st)] == ["a", "c"]


def test_threshold_clusters_exact_and_lsh_paths_find_planted_groups() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((300, 32)).astype(np.float32)
    truth = rng.integers(0, 300, 6000)
    x = centres[truth] + 0.05 * rng.standard_normal((6000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for n in (1500, 6000):  # below SMALL_EXACT: exact blocks; above: LSH buckets
        labels = semantic.threshold_clusters(x[:n], 0.95, seed=1)
        same_truth = truth[:n, None] == truth[None, :n]
        same_label = labels[:, None] == labels[None, :]
        assert (same_truth == same_label).mean() > 0.999


def test_cap_keeps_at_most_cap_members_per_cluster_deterministically() -> None:
    labels = np.array([0] * 10 + [1] * 2 + [2])
    ids = [f"s{i}" for i in range(13)]
    plan = semantic.cap_clusters(labels, ids, 3, seed=1)
    assert plan.drop[:10].sum() == 7 and not plan.drop[10:].any()
    assert [len(c) for c in plan.clusters] == [10, 2]
    assert (plan.drop == semantic.cap_clusters(labels, ids, 3, seed=1).drop).all()


def test_tfidf_svd_embedder_puts_paraphrases_close() -> None:
    texts = [
        "收到，我这边马上帮您查询一下。",
        "收到，我马上帮您查一下。",
        "反向保理由核心企业确权，利率更低。",
        "订单融资年化利率在4%左右。",
    ] * 3
    vectors = semantic.embed_all(get_embedder("tfidf-svd", dim=8), texts)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[0, 0] > 0.99


def test_missing_model_or_extra_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="模型目录不存在"):
        get_embedder(f"sentence-transformers:{tmp_path / 'none'}")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(InvalidInput, match=r"finassist\[vectors\]"):
        get_embedder(str(tmp_path))
    with pytest.raises(InvalidInput, match="未知的向量模型：word2vec"):
        get_embedder("word2vec")
    monkeypatch.setitem(sys.modules, "datasketch", None)
    with pytest.raises(InvalidInput, match=r"pip install 'finassist\[data\]'"):
        require_data_extra("datasketch")
