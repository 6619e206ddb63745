"""Normalising messages and routing them to an intent."""

from __future__ import annotations

import pytest

from finassist.errors import InvalidInput
from finassist.nlp.intent import IntentRouter
from finassist.nlp.normalize import MAX_MESSAGE_CHARS, normalize_message


def test_traditional_and_full_width_are_normalised() -> None:
    assert normalize_message("華東汽車　近１２個月的現金流？") == "华东汽车 近12个月的现金流？"


def test_chinese_punctuation_is_kept() -> None:
    assert normalize_message("你好，请问。") == "你好，请问。"


@pytest.mark.parametrize("text", ["", "   ", "\u3000\u200b"])
def test_empty_message_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(InvalidInput, match="消息为空"):
        normalize_message(text)


def test_ten_thousand_characters_are_refused() -> None:
    with pytest.raises(InvalidInput, match=f"{MAX_MESSAGE_CHARS} 字以内"):
        normalize_message("现金流" * 3400)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("华东汽车最近的现金流怎么样", "cashflow"),
        ("您好", "greeting"),
        ("帮我出一份现金流健康度报告", "report"),
        ("他们前五大客户占比多少", "concentration"),
        ("这家有没有被执行或者诉讼", "risk"),
        ("还有哪些发票没付", "invoices"),
        ("给他们推荐一个合适的融资产品", "product_match"),
        ("反向保理是什么", "product_info"),
        ("这个产品能保本吗", "handoff"),
        ("这家企业的资质怎么样", "profile"),
        ("他们的贷后情况", "post_loan"),
        ("他们有没有资金需求", "funding_need"),
        ("平均回款周期多长", "payment_behavior"),
    ],
)
def test_router_picks_the_scenario(text: str, intent: str) -> None:
    assert IntentRouter.default().classify(text).name == intent


def test_router_says_unknown_when_nothing_matches() -> None:
    verdict = IntentRouter.default().classify("今天天气不错")
    assert verdict.name == "unknown"
    assert verdict.score == 0
