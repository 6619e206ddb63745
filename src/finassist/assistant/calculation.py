"""Calculation turns: routing, the calculator's answer, and follow-ups on a recommendation card.

A message that asks for a computation over figures it gives (应用题, 保理利息) goes to the
calculator before any company lookup (:func:`is_calculation`), so it never ends in 未找到企业.
The calculator either binds every operand to a quantity of the message or declines and says
which one it could not identify. After a recommendation card, 额度能批多少 / 利率什么水平 is
answered from the card's own figures (:func:`is_card_followup`).
"""

from __future__ import annotations

import re
from typing import Any

import finassist.finance.calculator  # noqa: F401  (registers the calculate tool)
from finassist.assistant import guard
from finassist.assistant.compose import money
from finassist.assistant.handlers import Answer, TurnInput, handler
from finassist.assistant.types import Evidence
from finassist.errors import InvalidInput
from finassist.finance.calc.binding import formula_fits, formulas
from finassist.finance.calc.quantities import find_quantities

CALCULATE = "calculate"
CARD_TERMS = "product_terms"
CARD_INTENTS = frozenset({"product_match", CARD_TERMS})
_CARD_QUESTION = re.compile(r"额度|能批|批多少|贷多少|利率|利息水平|什么价格|定价")
_CALC_WORDS = re.compile(r"计算|算一下|算算|帮我算|多少|几|[？?]")


def is_calculation(text: str) -> bool:
    """A computation over figures the message itself gives (deterministic; no model).

    It needs a question, a formula whose words the question uses, and at least one amount or
    percentage in the message. A question about the manager's own data (哪些供应商的应收账款
    超过500万) has no formula word and is left to the other handlers.
    """
    if not _CALC_WORDS.search(text):
        return False
    found = [q for q in find_quantities(text) if q.kind in ("amount", "ratio", "pp")]
    if not found:
        return False
    return any(formula_fits(name, text, text) for name in formulas())


def is_card_followup(text: str, last_intent: str | None, has_focus: bool) -> bool:
    """额度大概能批多少，利率什么水平 right after a recommendation card for the company in focus."""
    return (
        last_intent in CARD_INTENTS
        and has_focus
        and bool(_CARD_QUESTION.search(text))
        and not find_quantities(text)
    )


@handler(CALCULATE)
def calculate(turn: TurnInput) -> Answer:
    """The financial calculator on the message, with its working; a refusal says what is missing."""
    # The question is the evidence of every operand (and of the figures a refusal quotes).
    turn.book.add(Evidence("question", "question", "问题原文", {}, turn.text))
    try:
        result = turn.call("calculate", question=turn.text)
    except InvalidInput as exc:
        return Answer([str(exc)])
    d = result.data
    cite = turn.book.cite_records(result.records)
    lines = [f"按“{d['name']}”计算{cite}："]
    given = "，".join(
        f"{o['name']} {o['value']}{o['unit']}（原文“{o['source']}”）" for o in d["operands"]
    )
    lines.append(f"已知：{given}{cite}。")
    lines.extend(f"{n}. {step}{cite}" for n, step in enumerate(d["steps"], start=1))
    lines.append(f"结果：{d['result_text']}{cite}。")
    lines.extend(f"注：{note}。" for note in d["notes"])
    return Answer(lines, calculation=d)


@handler(CARD_TERMS)
def product_terms(turn: TurnInput) -> Answer:
    """The amount and rate range of the recommendation card for the company in focus, cited."""
    result = turn.call("recommend_products", enterprise_id=turn.enterprise_id)
    rec: dict[str, Any] = result.data
    if not rec.get("recommended_product"):
        cite = turn.book.cite_tool(result)
        return Answer(
            [
                f"{turn.name}目前没有推荐的融资产品，因此没有建议额度和利率{cite}。{rec.get('rationale', '')}"
            ]
        )
    low, high = rec["recommended_rate_range"]
    cite = turn.book.cite_value(result, rec["recommended_amount"], low, high)
    return Answer(
        [
            f"按推荐卡片，{turn.name}的“{rec['recommended_product_name']}”建议额度约 "
            f"{money(rec['recommended_amount'])}{cite}，年化利率区间 {low}%–{high}%{cite}。",
            "以上为系统测算的参考值，实际额度与利率以银行审批和合同为准。",
        ],
        recommendation=None,
    )


def checked(turn: TurnInput, evidence: list[Evidence]) -> tuple[dict[str, Any] | None, list[str]]:
    """The turn's last calculation (the model's binding if it made one), re-verified by the guard."""
    calc = next((r.data for r in reversed(turn.results) if r.tool == CALCULATE), None)
    return guard.check_calculation(calc, turn.text, evidence)
