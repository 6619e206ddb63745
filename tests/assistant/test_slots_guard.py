"""Slot parsing and the evidence guard."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from finassist.assistant.guard import check
from finassist.assistant.slots import (
    explicit_company,
    parse_window,
    pick_candidate,
    residual_name,
)
from finassist.assistant.types import Evidence


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("最近三个月的现金流", {"months": 3}),
        ("近12个月", {"months": 12}),
        ("过去90天", {"days": 90}),
        ("近半年", {"months": 6}),
        ("近两年", {"months": 24}),
        ("近十年", {"months": 24}),
        ("上个季度", {}),
        ("最近2个季度", {"months": 6}),
        ("现金流", {}),
    ],
)
def test_window(text: str, window: dict[str, int]) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("answer", "index"),
    [
        ("1", 0),
        ("第二家", 1),
        ("第2个", 1),
        ("后者", 1),
        ("华信物流", 1),
        ("第三家", None),
        ("嗯", None),
    ],
)
def test_pick_candidate(answer: str, index: int | None) -> None:
    assert pick_candidate(answer, ["华信精工", "华信物流"]) == index


def test_residual_name_strips_question_words() -> None:
    keywords = {"现金流", "发票"}
    assert residual_name("华信最近的现金流怎么样", keywords) == "华信"
    assert residual_name("今天天气不错", keywords) == "今天天气不错"
    assert residual_name("最近三个月的现金流呢", keywords) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [("那G企业呢", "G企业"), ("那华信呢", "华信"), ("那最近三个月呢", None), ("那他们呢", None)],
)
def test_explicit_company_names_a_company_not_a_window(text: str, name: str | None) -> None:
    assert explicit_company(text, {"现金流"}) == name


EVIDENCE = [
    Evidence(
        "invoice:1",
        "invoice",
        "数据库·发票",
        {
            "invoice_no": "26310000000000000001",
            "amount": Decimal("1234567.80"),
            "issue_date": date(2026, 3, 5),
            "share": Decimal("0.3521"),
            "dso": Decimal("45.3"),
        },
        "发票 26310000000000000001",
    )
]


def test_guard_accepts_figures_that_are_in_the_evidence() -> None:
    text = (
        "发票 26310000000000000001 金额 1,234,567.80 元，开票日 2026-03-05[1]。"
        "占比 35.21%，平均回款 45.3 天[1]。近12个月。"
    )
    report = check(text, EVIDENCE)
    assert report.unsupported == []
    assert report.text == text


@pytest.mark.parametrize(
    "claim",
    ["金额 1,234,567.81 元", "发票 26310000000000000002", "开票日 2026-03-06", "占比 35.22%"],
)
def test_guard_removes_a_sentence_with_an_invented_figure(claim: str) -> None:
    report = check(f"第一句没有数字。{claim}[1]。", EVIDENCE)
    assert report.unsupported
    assert report.text == "第一句没有数字。"
