"""Metric arithmetic, kept free of models so that every figure can be checked by hand.

>>> round(rouge_l_tokens(["应收", "账款", "质押"], ["应收", "账款", "转让"]), 4)
0.6667
>>> recall_at_k(["c2", "c9"], {"c9"}, 1)
0.0
>>> mrr(["c2", "c9"], {"c9"})
0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from finassist.llm.types import MissingExtra


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float:
    """Share of items where the prediction equals the gold label (0 for no items)."""
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def macro_f1(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Unweighted mean of per-label F1 over every label seen in gold or predictions."""
    labels = sorted({*gold, *(p for p in pred if p is not None)})
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        scores.append(prf(tp, fp, fn)[2])
    return sum(scores) / len(scores)


Span = tuple[int, int, str]


def entity_prf(gold: Sequence[Iterable[Span]], pred: Sequence[Iterable[Span]]) -> dict[str, float]:
    """Entity-level micro precision/recall/F1: an entity counts only with exact span and type."""
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        tp += len(gs & ps)
        fp += len(ps - gs)
        fn += len(gs - ps)
    precision, recall, f1 = prf(tp, fp, fn)
    return {"precision": precision, "recall": recall, "f1": f1}


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant ids found in the first ``k`` results."""
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def mrr(ranked: Sequence[str], relevant: set[str]) -> float:
    """Reciprocal rank of the first relevant result (0 if none)."""
    for rank, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG@k: DCG = sum over hits of 1/log2(rank+1), over the ideal DCG."""
    dcg = sum(1.0 / math.log2(i + 1) for i, c in enumerate(ranked[:k], start=1) if c in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (two-row dynamic programme)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l_tokens(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1 (beta = 1) of two token lists."""
    lcs = lcs_length(candidate, reference)
    if not lcs:
        return 0.0
    p, r = lcs / len(candidate), lcs / len(reference)
    return 2 * p * r / (p + r)


def zh_tokens(text: str) -> list[str]:
    """jieba tokens of ``text`` without whitespace (Chinese words, not characters dropped)."""
    import jieba

    return [t for t in jieba.lcut(text) if t.strip()]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on jieba tokens (rouge-score's tokenizer drops Chinese, so it is not used)."""
    return rouge_l_tokens(zh_tokens(candidate), zh_tokens(reference))


def corpus_bleu_zh(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0–1) with sacrebleu's ``zh`` tokenizer; needs the extra ``eval``."""
    try:
        import sacrebleu
    except ImportError as exc:
        raise MissingExtra(
            "计算 BLEU 需要 sacrebleu，请安装评测扩展：pip install 'finassist[eval]'。"
        ) from exc
    if not candidates:
        return 0.0
    return (
        float(sacrebleu.corpus_bleu(list(candidates), [list(references)], tokenize="zh").score)
        / 100
    )
