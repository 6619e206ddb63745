"""The polarity lexicon: longest word wins, negators flip, the last clause is counted apart."""

from __future__ import annotations

import pytest

from finassist.nlp.sentiment_lexicon import Lexicon


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.default()


def signs(lexicon: Lexicon, text: str) -> list[tuple[str, int]]:
    return [(h.word, h.sign) for h in lexicon.hits(text)]


def test_longest_word_wins(lexicon) -> None:
    assert signs(lexicon, "公司扭亏为盈") == [("扭亏为盈", 1)]
    assert signs(lexicon, "股价跌停") == [("跌停", -1)]


def test_a_negator_flips_the_word_after_it(lexicon) -> None:
    assert signs(lexicon, "今天没跌") == [("跌", 1)]
    assert signs(lexicon, "不会大涨") == [("大涨", -1)]
    assert signs(lexicon, "大涨") == [("大涨", 1)]


def test_loss_slang_is_negative(lexicon) -> None:
    for word in ("套牢", "割肉", "没跑", "跌停", "爆仓", "亏"):
        assert signs(lexicon, word) == [(word, -1)], word


def test_the_last_clause_is_counted_apart(lexicon) -> None:
    feats = lexicon.features("涨停赚钱没跑，亏1万了")
    assert feats["X:all:pos"] == feats["X:all:neg"]  # two and two over the whole post
    assert "X:all:net" not in feats
    assert feats["X:last:net"] == -1.0 and "X:last:pos" not in feats


def test_text_without_lexicon_words_has_no_features(lexicon) -> None:
    assert lexicon.features("今天开会讨论年度计划") == {}


@pytest.mark.parametrize(
    ("word", "sign"),
    [("吃面", -1), ("核按钮", -1), ("天地板", -1), ("亏麻", -1), ("解套", 1), ("回血", 1)],
)
def test_investor_forum_slang_has_its_polarity(lexicon, word, sign) -> None:
    assert signs(lexicon, f"今天{word}了") == [(word, sign)]


def test_slang_that_contains_another_word_is_read_whole(lexicon) -> None:
    # 亏 alone is negative; 亏麻 is one word, counted once.
    assert lexicon.features("亏麻了")["X:all:neg"] == lexicon.features("亏了")["X:all:neg"]
