"""Calculation turns: routing before company lookup, the calculation in the reply, the guard's
re-check of every operand (each test has a wrong-operand case that must be caught), the model's
program-of-thought bindings, and follow-ups on a recommendation card."""

from __future__ import annotations

import json

import pytest

from finassist.assistant import Assistant
from finassist.assistant.guard import check_calculation
from finassist.assistant.types import Evidence
from finassist.finance.calculator import calculate
from finassist.llm.scripted import ScriptedBackend
from finassist.llm.types import ToolCall
from finassist.nlp.intent import IntentRouter
from finassist.store import Database

FACTORING = "500万的应收账款做保理，年化利率5.2%，融资90天，利息大概多少钱？"
TRADE = (
    "2024年，全市进出口总额323.11亿美元，同比增长3.2%，其中出口160.1亿美元，同比增长5.2%，"
    "进口163.01亿美元。"
)


def ask(db: Database, text: str, backend=None, session_id=None):
    assistant = Assistant(db, router=IntentRouter.rules_only(), backend=backend)
    return assistant.ask(text, manager_id="M001", session_id=session_id)


def test_a_factoring_question_gets_the_interest_with_its_formula(sample_db: Database) -> None:
    reply = ask(sample_db, FACTORING)
    assert reply.intent == "calculate"
    assert "结果：6.50万元" in reply.text and "未找到企业" not in reply.text
    calc = reply.to_json()["calculation"]
    assert calc["formula"] == "financing_interest" and calc["result"] == "6.50"
    assert calc["unit"] == "万元"
    assert [(o["value"], o["unit"]) for o in calc["operands"]] == [
        ("500", "万元"),
        ("5.2", "%"),
        ("90", "天"),
    ]
    assert any("493.50万元" in step for step in calc["steps"])  # the amount net of interest


def test_a_word_problem_without_a_company_binds_the_asked_quantity(sample_db: Database) -> None:
    reply = ask(sample_db, TRADE + "出口占进出口总额的比重是多少？")
    assert reply.calculation is not None and reply.calculation["result"] == "49.55"
    assert {o["unit"] for o in reply.calculation["operands"]} == {"亿美元"}


def test_a_unit_the_data_does_not_have_is_declined_not_converted(sample_db: Database) -> None:
    reply = ask(sample_db, TRADE + "出口比上年增加了多少亿元？")
    assert reply.calculation is None
    assert "单位" in reply.text and "亿元作答" in reply.text


def test_an_ambiguous_quantity_is_named_in_the_refusal(sample_db: Database) -> None:
    reply = ask(sample_db, "甲公司营业收入5亿元，乙公司营业收入4亿元，营业收入同比增长率是多少？")
    assert reply.calculation is None and "营业收入" in reply.text and "候选" in reply.text


def test_data_questions_about_the_book_are_not_taken_by_the_calculator(sample_db: Database) -> None:
    reply = ask(sample_db, "华东汽车近12个月的现金流怎么样？")
    assert reply.intent == "cashflow" and reply.calculation is None


# -- the guard -------------------------------------------------------------------------------------


def _trade_share() -> dict:
    return calculate("出口占进出口总额的比重是多少？", TRADE).to_json()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"part": {"value": "161.1"}}, "没有这个数值"),  # a value the text does not hold
        ({"part": {"unit": "亿元"}}, "单位不符"),  # 亿美元 read as 亿元
        ({"part": {"value": "323.11", "source": "全市进出口总额323.11亿美元"}}, "另一项指标"),
        ({"part": {"source": "出口160.1万美元"}}, "没有"),  # a span that is not in the text
    ],
)
def test_the_guard_catches_a_wrong_operand(change: dict, problem: str) -> None:
    good = _trade_share()
    evidence = [Evidence("q", "text", "问题", {}, TRADE)]
    question = "出口占进出口总额的比重是多少？"
    assert check_calculation(good, question, evidence) == (good, [])
    bad = json.loads(json.dumps(good))
    for op in bad["operands"]:
        op.update(change.get(op["id"], {}))
    checked, problems = check_calculation(bad, question, evidence)
    assert checked is None and any(problem in p for p in problems), problems


def test_the_guard_recomputes_the_result_and_rejects_a_change_read_as_a_level() -> None:
    context = "年末全市常住人口1500万人，比上年增加324万人。"
    question = "上年末常住人口是多少万人？"
    good = calculate(question, context).to_json()
    evidence = [Evidence("q", "text", "问题", {}, context)]
    assert good["result"] == "1176.00" and check_calculation(good, question, evidence)[1] == []
    tampered = {**good, "result_text": "1500.00万人"}
    assert "不符" in check_calculation(tampered, question, evidence)[1][0]
    as_level = calculate(
        "上年末常住人口是多少万人？",
        None,
        formula="growth_base",
        values={"current": "1500万人", "rate": "5%"},
    ).to_json()
    as_level["formula"] = "growth_base_from_change"
    as_level["operands"][1].update(id="change", value="324", unit="万人", source="常住人口1500万人")
    assert check_calculation(as_level, question, evidence)[0] is None


# -- the model fills the bindings; the calculator computes; the guard checks --------------------------


def _bind(operands: dict) -> ToolCall:
    args = {"question": FACTORING, "formula": "financing_interest", "operands": operands}
    return ToolCall("c1", "calculate", json.dumps(args, ensure_ascii=False))


GOOD_BINDING = {
    "principal": {"value": "500", "unit": "万", "source": "500万的应收账款"},
    "rate": {"value": "5.2", "unit": "%", "source": "年化利率5.2%"},
    "days": {"value": "90", "unit": "天", "source": "融资90天"},
}


def test_a_model_binding_is_computed_by_the_calculator_and_checked(sample_db: Database) -> None:
    fake = ScriptedBackend()
    fake.enqueue(_bind(GOOD_BINDING), lambda messages: "利息约6.50万元[3]。")
    reply = ask(sample_db, FACTORING, backend=fake)
    assert reply.calculation is not None and reply.calculation["result_text"] == "6.50万元"
    assert "6.50万元" in reply.text and reply.unverified == []
    wrong = {**reply.calculation, "operands": [dict(o) for o in reply.calculation["operands"]]}
    wrong["operands"][0]["value"] = "5000"  # a principal the question does not state
    assert check_calculation(wrong, FACTORING, reply.evidence)[0] is None


def test_a_wrong_model_binding_is_removed_not_cited(sample_db: Database) -> None:
    wrong = {**GOOD_BINDING, "days": {"value": "180", "unit": "天", "source": "融资90天"}}
    fake = ScriptedBackend()
    fake.enqueue(_bind(wrong), "利息约13.00万元[3]。", "利息约13.00万元[3]。")
    reply = ask(sample_db, FACTORING, backend=fake)
    assert reply.calculation is None
    assert "13.00万元" not in reply.text.split("（")[0]
    assert any("180" in item for item in reply.unverified)


# -- a recommendation card's own figures -----------------------------------------------------------


def test_a_card_follow_up_answers_from_the_card(sample_db: Database) -> None:
    first = ask(sample_db, "远航汽配适合什么融资产品？")
    assert first.recommendation and first.recommendation.get("recommended_amount") is not None
    reply = ask(sample_db, "额度大概能批多少，利率什么水平", session_id=first.session_id)
    assert reply.intent == "product_terms" and reply.unverified == []
    low, high = first.recommendation["recommended_rate_range"]
    assert f"{low}%–{high}%" in reply.text and "[" in reply.text
    assert "没有完全理解" not in reply.text
