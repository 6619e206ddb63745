"""Metric arithmetic on cases computed by hand."""

from __future__ import annotations

import math

import pytest

from finassist.evaluate import metrics


def test_accuracy_and_macro_f1_by_hand() -> None:
    gold = ["积极", "积极", "消极", "中性"]
    pred = ["积极", "消极", "消极", "积极"]
    assert metrics.accuracy(gold, pred) == 0.5
    # 积极: tp1 fp1 fn1 -> F1 0.5; 消极: tp1 fp1 fn0 -> P .5 R 1 F1 2/3; 中性: 0
    assert metrics.macro_f1(gold, pred) == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_entity_f1_needs_exact_span_and_type() -> None:
    gold = [[(0, 4, "stock"), (4, 9, "date")]]
    pred = [[(0, 4, "stock"), (4, 9, "indicator"), (10, 12, "percent")]]
    scores = metrics.entity_prf(gold, pred)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(0.4)


def test_retrieval_metrics_by_hand() -> None:
    ranked = ["c3", "c1", "c7", "c2"]
    relevant = {"c1", "c2"}
    assert metrics.recall_at_k(ranked, relevant, 3) == 0.5
    assert metrics.mrr(ranked, relevant) == 0.5
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    assert metrics.ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / ideal)
    assert metrics.mrr(["x"], relevant) == 0.0


def test_rouge_l_counts_chinese_words() -> None:
    # LCS of [保理, 是, 融资] and [保理, 不是, 融资] is 2: P = R = 2/3.
    assert metrics.rouge_l_tokens(["保理", "是", "融资"], ["保理", "不是", "融资"]) == (
        pytest.approx(2 / 3)
    )
    assert (
        metrics.rouge_l("流动比率等于流动资产除以流动负债", "流动比率等于流动资产除以流动负债")
        == 1.0
    )
    assert metrics.rouge_l("应收账款", "票据贴现") == 0.0  # rouge-score would give 0 for both


def test_bleu_uses_the_zh_tokenizer() -> None:
    same = metrics.corpus_bleu_zh(
        ["保理商受让应收账款并提供融资"], ["保理商受让应收账款并提供融资"]
    )
    assert same == pytest.approx(1.0)
    assert metrics.corpus_bleu_zh(["今天天气很好"], ["保理商受让应收账款"]) < 0.1
