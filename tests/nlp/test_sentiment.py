"""Sentence-level and target-level financial sentiment with the packaged models."""

from __future__ import annotations

import pytest

from finassist.errors import InvalidInput
from finassist.nlp.sentiment import LABELS, SentimentAnalyzer, target_context


@pytest.fixture(scope="module")
def analyzer() -> SentimentAnalyzer:
    return SentimentAnalyzer.default()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("公司业绩大幅预增，股价涨停", "积极"),
        ("公司因财务造假被证监会立案调查，股价跌停", "消极"),
    ],
)
def test_clear_cases(analyzer, text, label) -> None:
    verdict = analyzer.analyze(text)
    assert verdict.label == label
    assert set(verdict.scores) == set(LABELS)
    assert sum(verdict.scores.values()) == pytest.approx(1.0, abs=0.01)


def test_target_level_sentiment_finds_who_is_hit(analyzer) -> None:
    text = "贵州茅台业绩超预期股价大涨，而万科A债务违约股价暴跌。"
    by_target = {t.target: t.label for t in analyzer.analyze_targets(text)}
    assert by_target == {"贵州茅台": "积极", "万科A": "消极"}


def test_explicit_target_spans_are_checked(analyzer) -> None:
    with pytest.raises(InvalidInput, match="超出文本范围"):
        analyzer.analyze_targets("茅台大涨", targets=[(2, 9)])


def test_target_context_stops_at_the_clause() -> None:
    assert target_context("甲大涨，乙大跌", 4, 5) == "\ue0ff大跌"


def test_empty_text_is_refused(analyzer) -> None:
    with pytest.raises(InvalidInput, match="文本为空"):
        analyzer.analyze("")
