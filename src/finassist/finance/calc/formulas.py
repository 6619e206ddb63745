"""The formula catalogue, the safe evaluator and a finished calculation.

Formulas live in ``finance/data/formulas.yaml``; each names its inputs (what kind of quantity
each must be bound to), its steps (``+ - * /``, parentheses, ``power``/``root``) and its result.
:func:`run` evaluates the steps over bound operands and returns a :class:`Calculation` whose
working is shown line by line and whose JSON is what ``ask --json`` carries.
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

from finassist.errors import InvalidInput
from finassist.finance.calc.quantities import SCALES, currency, unit_text

CENT = Decimal("0.01")
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_SHOW_OPS = {"+": " + ", "-": " − ", "*": " × ", "/": " ÷ "}


@lru_cache(maxsize=1)
def formulas() -> dict[str, dict[str, Any]]:
    """The formula catalogue, parsed once: the written formulas, then three per named ratio
    (see :func:`ratio_formulas`)."""
    text = resources.files("finassist.finance").joinpath("data/formulas.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    catalogue: dict[str, dict[str, Any]] = dict(data["formulas"])
    for name, ratio in (data.get("ratios") or {}).items():
        for key, body in ratio_formulas(name, ratio).items():
            if key in catalogue:
                raise ValueError(f"formulas.yaml: 比率 {name} 展开的公式 {key} 与已有公式重名")
            catalogue[key] = body
    return catalogue


RATIO_ASKS = {"ratio": "ratio", "times": "times", "number": "times"}  # 周转率 is asked as a 率


def ratio_formulas(name: str, ratio: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A named ratio (numerator / denominator) as three formulas: the ratio from both sides,
    the numerator from the ratio and the denominator, the denominator from the ratio and the
    numerator. Each side binds by its cues; the ratio's value (``kind: value``: 50%, 2倍 or a
    bare 0.6) by the ratio's words."""
    num, den, kind, label = ratio["numerator"], ratio["denominator"], ratio["kind"], ratio["name"]

    def side(part: dict[str, Any]) -> dict[str, Any]:
        return {"label": part["label"], "kind": "amount", "role": "level", "cues": part["cues"]}

    value = {"label": label, "kind": "value", "cues": ratio["words"]}
    out: dict[str, dict[str, Any]] = {}
    if ratio.get("forward", True):
        out[name] = {
            "name": label,
            "keywords": ratio["words"],
            "asks": RATIO_ASKS[kind],
            "inputs": {"numerator": side(num), "denominator": side(den)},
            "steps": [{"id": "value", "label": label, "kind": kind,
                       "expr": "numerator / denominator"}],
            "result": "value",
        }  # fmt: skip
    solved = (("numerator", "denominator", "value * denominator"),
              ("denominator", "numerator", "numerator / value"))  # fmt: skip
    for asked_name, given_name, expr in solved:
        asked = ratio[asked_name]
        out[f"{name}__{asked_name}"] = {
            "name": f"由{label}求{asked['label']}",
            "keywords": asked["cues"],
            "requires": ratio["words"],
            "asks": "amount",
            # the amount comes first: the answer states amounts in its unit (see target_of)
            "inputs": {given_name: side(ratio[given_name]), "value": value},
            "steps": [{"id": asked_name, "label": asked["label"], "kind": "amount", "expr": expr}],
            "result": asked_name,
        }
    return out


def _root(value: Decimal, n: Decimal) -> Decimal:
    if value <= 0 or n <= 0:
        raise InvalidInput("开方的底数和次数须为正数：请检查期初、期末值与年数。")
    return value ** (Decimal(1) / n)


def _power(value: Decimal, n: Decimal) -> Decimal:
    return value**n


FUNCTIONS = {"root": _root, "power": _power}


def evaluate(expr: str, names: dict[str, Decimal]) -> Decimal:
    """Evaluate ``+ - * /``, ``root(x, n)`` and ``power(x, n)`` over numbers and ``names``.

    Anything else is rejected.

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
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and len(node.args) == 2
            and not node.keywords
        ):
            return FUNCTIONS[node.func.id](walk(node.args[0]), walk(node.args[1]))
        raise InvalidInput(f"公式中含有不支持的内容：{ast.dump(node)[:40]}")

    with localcontext() as ctx:
        ctx.prec = 34
        try:
            return walk(ast.parse(expr, mode="eval"))
        except (SyntaxError, DivisionByZero, InvalidOperation) as exc:
            raise InvalidInput(f"公式无法计算：{expr}") from exc


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Target:
    """The unit an amount result is stated in: a scale and a base (亿 + 美元)."""

    scale: Decimal
    base: str
    per: str = ""  # the counted base of a per-capita result (人)

    @property
    def text(self) -> str:
        return unit_text(self.scale, self.base)


RESULT_UNITS = {"ratio": "%", "pp": "个百分点", "times": "倍", "days": "天", "number": ""}


def display_unit(kind: str, target: Target) -> str:
    """The unit a step of this kind is shown in."""
    if kind == "amount":
        return target.text
    if kind == "per":
        return f"{currency(target.base)}/{target.per}"
    return RESULT_UNITS.get(kind, "")


def in_unit(value: Decimal, kind: str, target: Target) -> Decimal:
    """A base-unit value in the unit it is shown in (亿元, %, 个百分点 ...)."""
    if kind == "amount":
        return value / target.scale
    if kind in ("ratio", "pp"):
        return value * 100
    return value


def show(value: Decimal, kind: str, target: Target) -> str:
    """A value as the answer states it: ``27.30亿元``, ``8.30%``, ``1.25倍``, ``0.30个百分点``."""
    return f"{_round(in_unit(value, kind, target)):,}{display_unit(kind, target)}"


@dataclass(frozen=True)
class Operand:
    """An input bound to a quantity of the text: the value and unit as written, and where."""

    id: str
    label: str
    value: Decimal  # as written: 356.2
    unit: str  # as written, money completed: 亿元, 亿美元, 万人, %, 天
    scale: Decimal
    base: str
    source: str  # the words of the text that state it: 其中出口160.1亿美元
    sign: int = 1
    derived: bool = False  # a year count read from two years (2020年 … 2024年)

    @property
    def base_value(self) -> Decimal:
        """The value the formula uses: base units, a 0..1 ratio, signed by the words."""
        if self.base == "%" or self.base == "个百分点":
            value = self.value / 100
        else:
            value = self.value * self.scale
        return value * self.sign

    @property
    def shown(self) -> str:
        text = f"{(self.value * self.sign).normalize():f}"
        if "." not in text and len(text) > 4:
            text = f"{int(self.value * self.sign):,}"
        return f"{text}{self.unit}"

    def to_json(self) -> dict[str, Any]:
        """``{"name", "value", "unit", "source"}`` (value as written, as a string)."""
        return {
            "id": self.id,
            "name": self.label,
            "value": format((self.value * self.sign).normalize(), "f"),
            "unit": self.unit,
            "source": self.source,
        }


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
    """A finished calculation: formula, bound operands, steps and the result."""

    formula: str
    name: str
    operands: list[Operand]
    steps: list[Step]
    result: Decimal  # base units (元, a 0..1 ratio)
    result_kind: str
    result_text: str
    unit: str  # the unit the result is stated in
    notes: list[str] = field(default_factory=list)
    constants: dict[str, Decimal] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, tuple[str, Decimal, str]]:
        """id -> (label, value in base units, as shown)."""
        return {o.id: (o.label, o.base_value, o.shown) for o in self.operands}

    @property
    def result_value(self) -> Decimal:
        """The result in :attr:`unit`, to two decimals."""
        return Decimal(self.result_text.replace(",", "")[: -len(self.unit) or None])

    def lines(self) -> list[str]:
        """The working, one Chinese line per input and step."""
        given = "，".join(f"{o.label} {o.shown}" for o in self.operands)
        return [f"已知：{given}。", *[f"{i}. {s.text}" for i, s in enumerate(self.steps, 1)]]

    def to_json(self) -> dict[str, Any]:
        """The ``calculation`` object of a reply (Decimal as strings)."""
        return {
            "formula": self.formula,
            "name": self.name,
            "operands": [o.to_json() for o in self.operands],
            "constants": {k: format(v, "f") for k, v in self.constants.items()},
            "result": format(self.result_value, "f"),
            "unit": self.unit,
            "result_text": self.result_text,
            "steps": [s.text for s in self.steps],
            "notes": self.notes,
        }


def _expression(expr: str, shown: dict[str, str]) -> str:
    spaced = re.sub(r"\s*([+\-*/])\s*", lambda m: _SHOW_OPS[m.group(1)], expr)

    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        if name in FUNCTIONS:
            return {"root": "开方", "power": "乘方"}[name]
        text = shown.get(name, name)
        return f"({text})" if text.startswith("-") else text

    return re.sub(r"[A-Za-z_]\w*", value, spaced)


def target_of(operands: list[Operand], asked: Target | None) -> Target:
    """The unit amounts are stated in: the one asked for, else the first amount operand's."""
    money = next((o for o in operands if o.base not in ("%", "个百分点", "天", "年", "月")), None)
    people = next((o for o in operands if o.base == "人"), None)
    base = money.base if money else "元"
    scale = money.scale if money else Decimal(1)
    if asked is not None and currency(asked.base) == currency(base):
        scale = asked.scale
    return Target(scale, currency(base), people.base if people else "")


def run(
    formula: str,
    operands: list[Operand],
    *,
    asked: Target | None = None,
    constants: dict[str, Decimal] | None = None,
) -> Calculation:
    """Evaluate ``formula`` over bound ``operands`` and show the working."""
    body = formulas()[formula]
    target = target_of(operands, asked)
    if asked is None and body.get("in_base_unit"):  # 利息 8,250.00元, not 0.83万元
        target = Target(Decimal(1), target.base, target.per)
    names: dict[str, Decimal] = {
        k: Decimal(str(v)) for k, v in (body.get("constants") or {}).items()
    }
    names.update(constants or {})
    used_constants = dict(names)
    shown: dict[str, str] = {k: f"{v.normalize():f}" for k, v in names.items()}
    notes = []
    for o in operands:
        names[o.id], shown[o.id] = o.base_value, o.shown
        if o.sign < 0:
            notes.append(f"“{o.source}”按负值计")
    steps = []
    for step in body["steps"]:
        value = evaluate(step["expr"], names)
        text = show(value, step["kind"], target)
        steps.append(Step(step["label"], _expression(step["expr"], shown), value, text))
        names[step["id"]], shown[step["id"]] = value, text
    result = names[body["result"]]
    kind = next(s["kind"] for s in body["steps"] if s["id"] == body["result"])
    return Calculation(formula, body["name"], operands, steps, result, kind,
                       show(result, kind, target), display_unit(kind, target), notes,
                       used_constants)  # fmt: skip


def scale_of(word: str) -> Decimal:
    """``亿`` -> 10**8; ``''`` -> 1."""
    return SCALES[word]
