"""The extended evidence guard: Chinese figures, dates, company names, marking, structured output."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from finassist.assistant.guard import check, check_recommendation, chinese_numeral
from finassist.assistant.types import Evidence

EVIDENCE = [
    Evidence(
        "invoice:1",
        "invoice",
        "数据库·发票",
        {
            "invoice_no": "26310000000000000001",
            "amount": Decimal("598765.43"),
            "issue_date": date(2026, 3, 5),
            "seller": "苏州恒泰精密机械有限公司",
            "share": Decimal("0.3521"),
        },
        "发票 26310000000000000001",
    ),
    Evidence("passage:1", "passage", "知识库·《产品手册》", {"text": "单笔最高 500万元。"}, ""),
]


@pytest.mark.parametrize(
    "sentence",
    [
        "金额约60万元[1]。",
        "金额约六十万[1]。",
        "金额约59.88万元[1]。",
        "金额５９８,７６５.４３元[1]。",
        "开票日 2026年3月5日[1]。",
        "开票日 2026/3/5[1]。",
        "占比百分之三十五点二一[1]。",
        "最高五百万元[2]。",
        "卖方为苏州恒泰精密机械有限公司[1]。",
        "千万不要逾期，万一逾期请联系我们。",
    ],
)
def test_supported_claims_in_chinese_forms(sentence: str) -> None:
    assert check(sentence, EVIDENCE, companies=True).unsupported == []


@pytest.mark.parametrize(
    ("sentence", "claim"),
    [
        ("金额约七十万[1]。", "七十万"),
        ("金额约61万元[1]。", "61万元"),
        ("开票日 2026年3月6日[1]。", "2026年3月6日"),
        ("占比３６%[1]。", "36%"),
        ("最高1.2亿元[2]。", "1.2亿元"),
        ("卖方为远航汽配有限公司[1]。", "卖方为远航汽配有限公司"),
    ],
)
def test_unsupported_claims_are_caught(sentence: str, claim: str) -> None:
    report = check("首句无数字。" + sentence, EVIDENCE, companies=True)
    assert report.unsupported == [claim]
    assert report.text == "首句无数字。"


def test_mark_mode_keeps_the_sentence_and_marks_the_claim() -> None:
    report = check("金额约七十万元[1]，开票日 2026-03-05。", EVIDENCE, mode="mark")
    assert report.text == "金额约七十万元〔未核实〕[1]，开票日 2026-03-05。"
    assert report.unsupported == ["七十万元"]


def test_company_names_are_checked_only_when_asked() -> None:
    assert check("卖方为远航汽配有限公司。", EVIDENCE).unsupported == []  # the offline path


def test_known_names_must_be_in_the_evidence() -> None:
    assert check("远航汽配回款良好。", EVIDENCE, names=["远航汽配"]).unsupported == ["远航汽配"]
    assert check("恒泰精密回款良好。", EVIDENCE, names=["恒泰精密"]).unsupported == []


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("六十万", 600000), ("一百二十三万四千五百", 1234500), ("一点二亿", 120000000), ("十二", 12)],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert chinese_numeral(numeral) == value


def test_recommendation_schema_errors_are_listed() -> None:
    checked, problems = check_recommendation({"recommended_product": "X"}, EVIDENCE)
    assert checked is None
    assert any("enterprise_id" in p for p in problems)
