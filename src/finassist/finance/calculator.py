"""The financial calculator: formulas as data, numbers read from the question, steps shown.

Formulas (同比/环比增长及增量, 不良率, 拨备覆盖率, 净息差, ROE and its DuPont decomposition,
资产负债率, 流动/速动比率, 毛利率, 净利率, 应收账款周转天数) live in ``data/formulas.yaml``. A
question (and an optional context paragraph) is read for quantities with units (亿元/万元/元/%);
each quantity is matched to a formula input by the words just before it. Steps are evaluated by a
tiny arithmetic evaluator (numbers, names, + - * /, parentheses): nothing else can run.

>>> calc = calculate("某行2024年营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？")
>>> calc.result_text
'27.30亿元'
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation, localcontext
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from finassist.errors import InvalidInput
from finassist.finance.base import Record, Tool, ToolContext, ToolResult, register

UNIT_SCALE = {"万亿元": Decimal(10) ** 12, "万亿": Decimal(10) ** 12, "亿元": Decimal(10) ** 8, "亿": Decimal(10) ** 8, "万元": Decimal(10) ** 4,
              "万": Decimal(10) ** 4, "千元": Decimal(1000), "元": Decimal(1)}  # fmt: skip
_QUANTITY = re.compile(
    r"(?<![\d.])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s*"
    r"(万亿元|万亿|亿元|万元|千元|元|亿|万|%|％|倍|天)?"
    r"(年|月|季度|日|号|个百分点)?"
)
_ASK = re.compile(r"多少|几|是否|为何|怎么|如何|[？?]")
_ASK_UNIT = re.compile(r"多少\s*(万亿元|亿元|万元|元|亿|万)")
_SENTENCE_BREAK = "。；;！？?\n"
MAX_TEXT_CHARS = 5000
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Quantity:
    """A number found in text: its value in base units (元, ratio), unit and where it was."""

    value: Decimal
    kind: str  # amount | ratio | number
    unit: str
    text: str
    context: str  # the words between the previous quantity and this one
    start: int


def find_quantities(text: str) -> list[Quantity]:
    """Numbers with units; years, months and percentage points are skipped.

    >>> [(q.value, q.kind) for q in find_quantities("2024年收入356.2亿元，增长8.3%")]
    [(Decimal('35620000000.0'), 'amount'), (Decimal('0.083'), 'ratio')]
    """
    found: list[Quantity] = []
    boundary = 0
    for match in _QUANTITY.finditer(text):
        number, unit, tail = match.group(1), match.group(2) or "", match.group(3)
        if tail and not unit:
            continue  # 2024年, 3月, 5个百分点: not an input
        value = Decimal(number.replace(",", ""))
        if unit in ("%", "％"):
            kind, value, unit = "ratio", value / 100, "%"
        elif unit in UNIT_SCALE:
            kind, value = "amount", value * UNIT_SCALE[unit]
        else:
            kind = "number"
        context = text[boundary : match.start()]
        found.append(Quantity(value, kind, unit, match.group(0).strip(), context, match.start()))
        boundary = match.end()
    return found


@lru_cache(maxsize=1)
def formulas() -> dict[str, dict[str, Any]]:
    """The formula catalogue, parsed once."""
    text = resources.files("finassist.finance").joinpath("data/formulas.yaml").read_text("utf-8")
    return yaml.safe_load(text)["formulas"]


# -- safe arithmetic -------------------------------------------------------------------------------

_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_SHOW_OPS = {"+": " + ", "-": " − ", "*": " × ", "/": " ÷ "}


def evaluate(expr: str, names: dict[str, Decimal]) -> Decimal:
    """Evaluate ``+ - * /`` over numbers and ``names``; anything else is rejected.

    >>> evaluate("a / (1 + b)", {"a": Decimal(108), "b": Decimal("0.08")})
    Decimal('100')
    """

    def walk(node: ast.AST) -> Decimal:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            op = _OPS[type(node.op)]
            if op == "/":
                if right == 0:
                    raise InvalidInput(
                        "计算中出现除以零：请检查分母（如上期值、贷款总额）是否为 0。"
                    )
                return left / right
            return left + right if op == "+" else left - right if op == "-" else left * right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Decimal(str(node.value))
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        raise InvalidInput(f"公式中含有不支持的内容：{ast.dump(node)[:40]}")

    with localcontext() as ctx:
        ctx.prec = 34
        try:
            return walk(ast.parse(expr, mode="eval"))
        except (SyntaxError, DivisionByZero, InvalidOperation) as exc:
            raise InvalidInput(f"公式无法计算：{expr}") from exc


# -- display ---------------------------------------------------------------------------------------


def _round(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), ROUND_HALF_UP)


def show(value: Decimal, kind: str, unit: str) -> str:
    """A value as the answer states it: ``27.30亿元``, ``8.30%``, ``1.25倍``, ``36.50天``."""
    if kind == "ratio":
        return f"{_round(value * 100):,}%"
    if kind == "times":
        return f"{_round(value):,}倍"
    if kind == "days":
        return f"{_round(value):,}天"
    if kind == "amount":
        return f"{_round(value / UNIT_SCALE[unit]):,}{unit}"
    return f"{_round(value):,}"


@dataclass(frozen=True)
class Step:
    """One line of the working: ``label = expression = value``."""

    label: str
    expression: str
    value: Decimal
    shown: str

    @property
    def text(self) -> str:
        return f"{self.label} = {self.expression} = {self.shown}"


@dataclass
class Calculation:
    """A finished calculation: formula, inputs as read, steps and the result."""

    formula: str
    name: str
    inputs: dict[str, tuple[str, Decimal, str]]  # id -> (label, value in base units, as shown)
    steps: list[Step]
    result: Decimal
    result_kind: str
    result_text: str
    unit: str
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The working, one Chinese line per input and step."""
        given = "，".join(f"{label} {shown}" for label, _, shown in self.inputs.values())
        return [f"已知：{given}。", *[f"{i}. {s.text}" for i, s in enumerate(self.steps, 1)]]

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (Decimal as str)."""
        return {
            "formula": self.formula,
            "name": self.name,
            "inputs": {
                k: {"label": label, "value": format(v, "f"), "shown": shown}
                for k, (label, v, shown) in self.inputs.items()
            },
            "steps": [
                {
                    "label": s.label,
                    "expression": s.expression,
                    "value": format(s.value, "f"),
                    "shown": s.shown,
                }
                for s in self.steps
            ],
            "result": format(self.result, "f"),
            "result_text": self.result_text,
            "unit": self.unit,
            "notes": self.notes,
        }


# -- matching the question to a formula -----------------------------------------------------------


def _ask_part(text: str) -> str:
    """The asking clause: from the last sentence break before 多少/几/？ to the end."""
    matches = list(_ASK.finditer(text))
    if not matches:
        return text
    match = matches[-1]
    start = max(text.rfind(ch, 0, match.start()) for ch in "，,。；;\n") + 1
    return text[start:]


def _score(body: dict[str, Any], ask: str, text: str) -> int:
    keywords = body["keywords"]
    return sum(3 for kw in keywords if kw in ask) + sum(1 for kw in keywords if kw in text)


def _cue_length(spec: dict[str, Any], context: str) -> int:
    return max((len(c) for c in spec.get("cues", []) if c in context), default=0)


def _compatible(spec: dict[str, Any], quantity: Quantity) -> bool:
    return quantity.kind == spec["kind"] or (quantity.kind == "number" and spec["kind"] == "amount")


def match_inputs(body: dict[str, Any], quantities: list[Quantity]) -> dict[str, Quantity] | None:
    """Assign quantities to the formula's inputs by cue words, then by order; None if short."""
    specs: dict[str, dict[str, Any]] = body["inputs"]
    chosen: dict[str, Quantity] = {}
    free = list(quantities)
    # Best cue first: a long cue right before a number is the strongest evidence.
    pairs = sorted(
        (
            (-_cue_length(spec, q.context), list(specs).index(name), q.start, name, q)
            for name, spec in specs.items()
            for q in quantities
            if _compatible(spec, q) and _cue_length(spec, q.context)
        ),
        key=lambda p: p[:3],
    )
    for _, _, _, name, q in pairs:
        if name not in chosen and q in free:
            chosen[name] = q
            free.remove(q)
    for name, spec in specs.items():
        if name in chosen:
            continue
        q = next((q for q in free if _compatible(spec, q)), None)
        if q is None:
            return None
        chosen[name] = q
        free.remove(q)
    return chosen


def _target_unit(ask: str, inputs: dict[str, Quantity]) -> str:
    named = _ASK_UNIT.search(ask)
    if named:
        return _unit_name(named.group(1))
    for q in inputs.values():
        if q.kind == "amount":
            return _unit_name(q.unit)
    return "元"


def _negated(spec: dict[str, Any], q: Quantity) -> bool:
    return any(word in q.context for word in spec.get("negate", []))


def _expression(expr: str, shown: dict[str, str]) -> str:
    spaced = re.sub(r"\s*([+\-*/])\s*", lambda m: _SHOW_OPS[m.group(1)], expr)

    def value(match: re.Match[str]) -> str:
        text = shown.get(match.group(0), match.group(0))
        return f"({text})" if text.startswith("-") else text

    return re.sub(r"[A-Za-z_]\w*", value, spaced)


def calculate(
    question: str,
    context: str | None = None,
    *,
    formula: str | None = None,
    values: dict[str, str] | None = None,
) -> Calculation:
    """Answer a calculation question step by step (offline).

    ``formula`` picks a formula by id (else chosen by the question's words); ``values`` gives
    inputs as text with units (``{"current": "356.2亿元", "rate": "8.3%"}``) instead of reading
    them from ``question`` and ``context``.
    """
    text = f"{context or ''}\n{question}".strip()
    if not text or len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"请给出要计算的问题（不超过 {MAX_TEXT_CHARS} 字），例如：营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？"
        )
    catalogue = formulas()
    if formula is not None and formula not in catalogue:
        raise InvalidInput(f"没有名为 {formula} 的公式。可用：{'、'.join(catalogue)}")
    ask = _ask_part(question or text)
    if values:
        inputs = _given_values(catalogue[formula] if formula else {}, formula, values)
        candidates = [formula] if formula else []
        if not formula:
            raise InvalidInput("直接给出数值时须同时指定公式（formula）。")
    else:
        quantities = find_quantities(text)
        candidates = (
            [formula]
            if formula
            else sorted(
                (name for name, body in catalogue.items() if _score(body, ask, text)),
                key=lambda name: -_score(catalogue[name], ask, text),
            )
        )
        inputs = None
        for name in candidates:
            inputs = match_inputs(catalogue[name], quantities)
            if inputs is not None:
                formula = name
                break
        if not candidates:
            raise InvalidInput(
                "没能识别要计算的指标。可计算："
                + "、".join(b["name"] for b in catalogue.values())
                + "。请在问题中写明指标名称，例如“拨备覆盖率是多少”。"
            )
        if inputs is None:
            body = catalogue[candidates[0]]
            needed = "、".join(spec["label"] for spec in body["inputs"].values())
            raise InvalidInput(
                f"计算{body['name']}需要：{needed}。请在问题中给出这些数值，并写明单位（金额单位或百分号）。"
            )
    assert formula is not None and inputs is not None
    return _run(formula, catalogue[formula], inputs, _target_unit(ask, inputs))


def _given_values(
    body: dict[str, Any], formula: str | None, values: dict[str, str]
) -> dict[str, Quantity]:
    inputs = {}
    for name, spec in body.get("inputs", {}).items():
        raw = values.get(name)
        found = find_quantities(str(raw)) if raw is not None else []
        if not found:
            raise InvalidInput(
                f"公式 {formula} 缺少输入 {name}（{spec['label']}），请带单位给出（亿元、万元、元或 %）。"
            )
        inputs[name] = found[0]
    return inputs


def _unit_name(unit: str) -> str:
    return unit if unit.endswith("元") else unit + "元"


def _shown_input(q: Quantity, kind: str, value: Decimal) -> str:
    """An input as the question gave it: ``356.2亿元``, ``8.3%``."""
    if kind == "ratio":
        return f"{(value * 100).normalize():f}%"
    if q.kind == "amount":
        return f"{(q.value / UNIT_SCALE[q.unit]).normalize():,f}{_unit_name(q.unit)}"
    return f"{q.value.normalize():,f}"


def _run(name: str, body: dict[str, Any], inputs: dict[str, Quantity], unit: str) -> Calculation:
    specs = body["inputs"]
    names: dict[str, Decimal] = {k: Decimal(v) for k, v in (body.get("constants") or {}).items()}
    shown: dict[str, str] = {k: str(v) for k, v in names.items()}
    given: dict[str, tuple[str, Decimal, str]] = {}
    notes = []
    for key in specs:
        q = inputs[key]
        value = (
            -abs(q.value) if specs[key]["kind"] == "ratio" and _negated(specs[key], q) else q.value
        )
        if value != q.value:
            notes.append(f"“{q.context.strip('，, ')}”按负增长计")
        text = _shown_input(q, specs[key]["kind"], value)
        names[key], shown[key] = value, text
        given[key] = (specs[key]["label"], value, text)
    steps = []
    for step in body["steps"]:
        value = evaluate(step["expr"], names)
        text = show(value, step["kind"], unit)
        steps.append(Step(step["label"], _expression(step["expr"], shown), value, text))
        names[step["id"]], shown[step["id"]] = value, text
    result = names[body["result"]]
    result_kind = next(s["kind"] for s in body["steps"] if s["id"] == body["result"])
    return Calculation(name, body["name"], given, steps, result, result_kind,
                       show(result, result_kind, unit), unit, notes)  # fmt: skip


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
        None, description="可选：公式编号，如 growth_increase、provision_coverage"
    )
    values: dict[str, str] | None = Field(
        None, description='可选：按公式输入名给出带单位的数值，如 {"current": "356.2亿元"}'
    )


def calculation_record(calc: Calculation) -> Record:
    """The calculation as one evidence record (inputs, each step and the result)."""
    working = "；".join(calc.lines())
    return Record(
        kind="metric",
        id=f"calc:{calc.formula}",
        source="计算·calculate",
        data=calc.to_json(),
        text=f"{calc.name}：{working}；结果 {calc.result_text}",
    )


@register
class Calculate(Tool):
    """Financial ratios and growth from numbers in the question, step by step (no database)."""

    name = "calculate"
    description = (
        "财务计算器：同比/环比增长率与增量、不良贷款率、拨备覆盖率、净息差、ROE 及杜邦分解、"
        "资产负债率、流动/速动比率、毛利率、净利率、应收账款周转天数。从问题或上下文中读取带单位"
        "的数值（亿元/万元/元/%），给出逐步计算过程。"
    )
    Args = CalculateArgs

    def execute(self, ctx: ToolContext, args: CalculateArgs) -> ToolResult:
        calc = calculate(args.question, args.context, formula=args.formula, values=args.values)
        return ToolResult(self.name, args.model_dump(), calc.to_json(), [calculation_record(calc)])
