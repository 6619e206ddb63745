"""The financial calculator tool: a word problem in, a formula with bound operands out.

The calculator binds each operand of a formula to a quantity the text names (what it measures,
its unit, its period) and declines, saying which quantity it could not identify, rather than
guess (see ``finance/calc/``). A model may fill the formula and the bindings itself
(program-of-thought): it names each operand's value, unit and the words of the text that state
it, and the calculator does the arithmetic.

>>> calc = calculate("某行2024年营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？")
>>> calc.result_text
'27.30亿元'
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finassist.errors import InvalidInput
from finassist.finance.base import Record, Tool, ToolContext, ToolResult, register
from finassist.finance.calc.binding import (
    _BASIS,
    MAX_TEXT_CHARS,
    Declined,
    _unit_parts,
    ask_of,
    bind_question,
)
from finassist.finance.calc.formulas import Calculation, Operand, evaluate, formulas, run
from finassist.finance.calc.quantities import Quantity, find_quantities

__all__ = ["Calculation", "Declined", "Operand", "Quantity", "calculate", "calculate_bound",
           "evaluate", "find_quantities", "formulas"]  # fmt: skip


class BoundOperand(BaseModel):
    """One operand as a model binds it: the value and unit as the text writes them, and where."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(description="题面中的数值，如 160.1")
    unit: str = Field("", description="题面中的单位，原样照抄，如 亿美元、万人、%、天")
    source: str = Field(description="题面中给出该数值的原文片段，如 其中出口160.1亿美元")


def calculate_bound(
    formula: str,
    operands: dict[str, BoundOperand | dict[str, Any]],
    *,
    question: str = "",
) -> Calculation:
    """Compute ``formula`` over operands bound by a model; the arithmetic is ours.

    Every input of the formula must be given; the binding itself is checked by the guard
    (``assistant/guard.py``: each source in the text with the same value and unit).
    """
    catalogue = formulas()
    if formula not in catalogue:
        raise InvalidInput(f"没有名为 {formula} 的公式。可用：{'、'.join(catalogue)}")
    specs = catalogue[formula]["inputs"]
    bound: list[Operand] = []
    for name, spec in specs.items():
        raw = operands.get(name)
        if raw is None:
            raise Declined(f"公式 {formula} 缺少输入 {name}（{spec['label']}）。")
        item = raw if isinstance(raw, BoundOperand) else BoundOperand.model_validate(raw)
        try:
            value = Decimal(item.value.replace(",", ""))
        except InvalidOperation as exc:
            raise InvalidInput(f"输入 {name} 的数值无法识别：{item.value}") from exc
        scale, base = _unit_parts(item.unit.strip())
        if base == "％":
            base = "%"
        derived = spec.get("from_periods", False) and "至" in item.source
        if base == "" and scale != 1 and spec.get("money"):
            base = "元"  # 500万的应收账款
        bound.append(Operand(name, spec["label"], value, item.unit.strip(), scale, base,
                             item.source, derived=derived))  # fmt: skip
    extra = set(operands) - set(specs)
    if extra:
        raise InvalidInput(f"公式 {formula} 没有输入：{'、'.join(sorted(extra))}")
    basis = _BASIS.search(question)
    constants = (
        {"basis": Decimal(basis.group(1))}
        if basis and "basis" in (catalogue[formula].get("constants") or {})
        else None
    )
    return run(
        formula, bound, asked=ask_of(question).unit if question else None, constants=constants
    )


def calculate(
    question: str,
    context: str | None = None,
    *,
    formula: str | None = None,
    values: dict[str, str] | None = None,
) -> Calculation:
    """Answer a calculation question step by step (offline), or decline.

    ``formula`` with ``values`` gives the inputs as text with units
    (``{"current": "356.2亿元", "rate": "8.3%"}``) instead of reading them from the text.
    """
    if values is None:
        if formula is not None and formula not in formulas():
            raise InvalidInput(f"没有名为 {formula} 的公式。可用：{'、'.join(formulas())}")
        return bind_question(question, context)
    if formula is None:
        raise InvalidInput("直接给出数值时须同时指定公式（formula）。")
    bound = {}
    for name, spec in formulas().get(formula, {}).get("inputs", {}).items():
        found = find_quantities(str(values.get(name, "")))
        if not found:
            raise InvalidInput(
                f"公式 {formula} 缺少输入 {name}（{spec['label']}），请带单位给出（亿元、万元、元或 %）。"
            )
        q = found[0]
        unit = q.unit if q.kind != "amount" else q.text[len(str(q.value)) :].strip() or q.unit
        bound[name] = BoundOperand(
            value=f"{q.value}", unit=q.base if q.kind != "amount" else unit, source=q.text
        )
    return calculate_bound(formula, bound, question=question)


# -- the tool --------------------------------------------------------------------------------------


class CalculateArgs(BaseModel):
    """Arguments of the ``calculate`` tool."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1, max_length=MAX_TEXT_CHARS, description="计算问题，含数值与单位"
    )
    context: str | None = Field(
        None, max_length=MAX_TEXT_CHARS, description="可选：给出数值的上下文段落"
    )
    formula: str | None = Field(
        None, description="可选：公式编号，如 growth_rate、share、financing_interest"
    )
    operands: dict[str, BoundOperand] | None = Field(
        None,
        description="可选（与 formula 同用）：按公式输入名绑定题面中的数值，"
        '如 {"current": {"value": "160.1", "unit": "亿美元", "source": "其中出口160.1亿美元"}}；'
        "只抄写题面原文的数值与单位，不要自己计算",
    )
    values: dict[str, str] | None = Field(
        None, description='可选：按公式输入名给出带单位的数值，如 {"current": "356.2亿元"}'
    )


def calculation_record(calc: Calculation) -> Record:
    """The calculation as one evidence record (operands, each step and the result)."""
    working = "；".join(calc.lines())
    return Record(
        kind="calculation",
        id=f"calc:{calc.formula}",
        source="计算·calculate",
        data=calc.to_json(),
        text=f"{calc.name}：{working}；结果 {calc.result_text}",
    )


@register
class Calculate(Tool):
    """Financial formulas over quantities bound in the question, step by step (no database)."""

    name = "calculate"
    description = (
        "财务计算器：增长率、增量、倒推上期值、占比、年均复合增长率、百分点变化、人均、单位换算、差额/合计/倍数、"
        "不良率、拨备覆盖率、净息差、ROE/ROA、资产负债率、流动/速动比率、毛利率、净利率、应收账款周转天数，"
        "以及保理/提前付款/贴现利息（本金×年化利率×天数÷360）、扣息后到账金额、实际年化利率。"
        "给 formula 与 operands 时，按输入名抄写题面原文中的数值、单位和原文片段，由计算器计算；不要自己算。"
    )
    Args = CalculateArgs

    def execute(self, ctx: ToolContext, args: CalculateArgs) -> ToolResult:
        if args.operands is not None:
            if args.formula is None:
                raise InvalidInput("给出 operands 时须同时指定公式（formula）。")
            calc = calculate_bound(args.formula, args.operands, question=args.question)
        else:
            calc = calculate(args.question, args.context, formula=args.formula, values=args.values)
        return ToolResult(self.name, args.model_dump(exclude_none=True), calc.to_json(),
                          [calculation_record(calc)])  # fmt: skip
