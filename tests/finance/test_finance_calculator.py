"""The financial calculator: formulas from data, numbers from the text, steps shown."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from finassist.errors import InvalidInput
from finassist.finance.base import Caller, ToolContext, get_tool
from finassist.finance.calculator import calculate, evaluate, find_quantities, formulas
from finassist.store import Database


def test_the_issue_example_gets_27_30_yi_with_steps() -> None:
    calc = calculate("某行2024年营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？")
    assert calc.formula == "growth_increase"
    assert calc.result_text == "27.30亿元"
    assert calc.result.quantize(Decimal("0.01")) * 1 == (
        Decimal("35620000000") - Decimal("35620000000") / Decimal("1.083")
    ).quantize(Decimal("0.01"))
    assert calc.lines() == [
        "已知：本期值 356.2亿元，增长率 8.3%。",
        "1. 上期值 = 356.2亿元 ÷ (1 + 8.3%) = 328.90亿元",
        "2. 增加额 = 356.2亿元 − 328.90亿元 = 27.30亿元",
    ]


@pytest.mark.parametrize(
    ("question", "context", "formula", "result"),
    [
        (
            "今年营业收入500万元，去年营业收入400万元，同比增长率是多少？",
            None,
            "growth_rate",
            "25.00%",
        ),
        ("本月销售额120万元，上月100万元，环比增长多少？", None, "growth_rate", "20.00%"),
        ("营业收入100亿元，同比下降5%，比上年减少了多少？", None, "growth_increase", "-5.26亿元"),
        ("收入108万元，同比增长8%，上年是多少？", None, "growth_base", "100.00万元"),
        (
            "不良率是多少？",
            "该行各项贷款余额1.2万亿元，不良贷款余额150亿元。",
            "npl_ratio",
            "1.25%",
        ),
        (
            "拨备覆盖率是多少？",
            "截至2024年末不良贷款余额150亿元，贷款损失准备余额350亿元。",
            "provision_coverage",
            "233.33%",
        ),
        (
            "利息净收入200亿元，平均生息资产1万亿元，净息差是多少",
            None,
            "net_interest_margin",
            "2.00%",
        ),
        ("净利润120亿元，平均净资产800亿元，ROE是多少", None, "roe", "15.00%"),
        (
            "净利润120亿元，营业收入800亿元，平均总资产10000亿元，平均净资产800亿元，用杜邦分解计算ROE",
            None,
            "dupont",
            "15.00%",
        ),
        ("总资产1000万元，总负债600万元，资产负债率是多少", None, "debt_ratio", "60.00%"),
        ("流动资产500万元，流动负债250万元，流动比率是多少", None, "current_ratio", "2.00倍"),
        (
            "流动资产500万元，存货100万元，流动负债250万元，速动比率是多少",
            None,
            "quick_ratio",
            "1.60倍",
        ),
        ("营业收入1000万元，营业成本700万元，毛利率是多少", None, "gross_margin", "30.00%"),
        ("平均应收账款200万元，营业收入1460万元，应收账款周转天数是多少", None, "dso", "50.00天"),
    ],
)
def test_formula_catalogue(question: str, context: str | None, formula: str, result: str) -> None:
    calc = calculate(question, context)
    assert (calc.formula, calc.result_text) == (formula, result)
    assert calc.steps and all(step.shown in step.text for step in calc.steps)


def test_every_formula_in_the_catalogue_has_steps_and_a_result() -> None:
    for name, body in formulas().items():
        ids = [s["id"] for s in body["steps"]]
        assert body["result"] in ids, name
        chosen_by = body["keywords"] or body.get("patterns") or body.get("context_keywords")
        assert chosen_by and body["inputs"], name


def test_quantities_skip_years_and_read_units() -> None:
    found = find_quantities("2024年3月，收入1,234.5万元，占比12%，负债2亿元")
    assert [(q.base_value, q.kind) for q in found] == [
        (Decimal("12345000.0"), "amount"),
        (Decimal("0.12"), "ratio"),
        (Decimal("200000000"), "amount"),
    ]


def test_explicit_formula_and_values() -> None:
    calc = calculate(
        "", "x", formula="provision_coverage", values={"reserve": "300亿元", "npl": "120亿元"}
    )
    assert calc.result_text == "250.00%"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("今天天气怎么样？", "没能识别要计算的指标"),
        ("拨备覆盖率是多少？", "贷款损失准备、不良贷款余额"),
        ("资产负债率是多少？总资产0万元，总负债5万元", "除以零"),
        ("", "请给出要计算的问题"),
    ],
)
def test_bad_questions_get_a_chinese_message(question: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        calculate(question)


def test_a_ratio_it_cannot_read_is_declined_in_words_not_placeholders() -> None:
    with pytest.raises(InvalidInput) as raised:
        calculate("某公司营业收入为600万元，研发投入为150万元，研发强度倍数是多少？")
    message = str(raised.value)
    assert "没看出是哪两项相比" in message and "“?”" not in message


@pytest.mark.parametrize("expr", ["__import__('os')", "a.b", "a ** 2", "[1]", "f(1)"])
def test_the_evaluator_runs_arithmetic_only(expr: str) -> None:
    with pytest.raises(InvalidInput):
        evaluate(expr, {"a": Decimal(1)})


def test_calculate_is_a_tool_a_model_can_call(sample_db: Database) -> None:
    ctx = ToolContext(sample_db, Caller("M001"), date(2026, 10, 31))
    tool = get_tool("calculate")
    assert tool.schema()["function"]["name"] == "calculate"
    result = tool.run(ctx, {"question": "营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？"})
    assert result.data["result_text"] == "27.30亿元"
    assert result.records[0].id == "calc:growth_increase"
    assert "27.30亿元" in result.records[0].text
    with pytest.raises(InvalidInput, match="calculate 的参数有误"):
        tool.run(ctx, {"question": "x", "script": "rm -rf /"})


@pytest.mark.parametrize(
    ("question", "formula", "result"),
    [
        (
            "某公司的息税前利润为600万元，利息费用为150万元，利息保障倍数是多少？",
            "interest_coverage",
            "4.00倍",
        ),
        ("某公司股价为15元，每股净资产为5元，市净率是多少？", "pb_ratio", "3.00倍"),
        ("某行贷款总额5000亿元，存款总额6500亿元，存贷比是多少", "loan_deposit_ratio", "76.92%"),
        # the other way round: a side from the ratio and the other side
        (
            "一个企业的流动资产为700万，其流动比率为2，请问该企业的流动负债是多少万元？",
            "current_ratio__denominator",
            "350.00万元",
        ),
        (
            "某公司资产总额300万元，流动资产比率为50%，流动资产是多少万元？",
            "current_assets_ratio__numerator",
            "150.00万元",
        ),
        (
            "销售收入750万元，流动资产周转率为7.5次，平均流动资产应为多少万元？",
            "current_asset_turnover__denominator",
            "100.00万元",
        ),
    ],
)
def test_named_ratios_both_ways(question: str, formula: str, result: str) -> None:
    calc = calculate(question)
    assert (calc.formula, calc.result_text) == (formula, result)


def test_a_quantity_that_sums_two_things_is_neither_of_them() -> None:
    # 900万 is 负债 + 股东权益, not 负债: binding it as 负债 gave 600万 where the answer is 360万
    with pytest.raises(InvalidInput):
        calculate(
            "公司的产权比率为1.5，已知其总负债和股东权益的和为900万元，求公司的股东权益是多少万元？"
        )


@pytest.mark.parametrize(
    ("question", "formula", "result"),
    [
        ("把10万元存3年定期，年利率2.75%，到期利息是多少？", "deposit_interest", "8,250.00元"),
        (
            "陈先生将100000元存入银行，年利率为1.5%，2年后他能拿到多少利息？",
            "deposit_interest",
            "3,000.00元",
        ),
        (
            "本金20万元，年利率5%，期限3年，按年复利计算到期本息合计多少？",
            "compound_amount",
            "23.15万元",
        ),
        (
            "如果想在8年后拿到20万元，年收益率为5%，现在需要一次性投入多少？",
            "present_value",
            "13.54万元",
        ),
    ],
)
def test_deposit_interest_compound_amount_and_present_value(
    question: str, formula: str, result: str
) -> None:
    calc = calculate(question)
    assert (calc.formula, calc.result_text) == (formula, result)


def test_two_sums_of_money_for_one_principal_is_declined() -> None:
    with pytest.raises(InvalidInput, match="无法确定本金"):
        calculate("张三存了5万元，李四存了3万元，年利率2%，3年后张三的利息是多少？")
