"""Re-verify a calculation against the text it was computed from.

Used by the evidence guard for the calculator's own answers and for bindings a model filled:
every operand must be stated by a span of the question or the evidence, with the same value,
sign and unit (亿美元 is not 亿元); it must play the role the formula needs (a change such as
比上年增加324万人 is not last year's level) and it must not be a worse match for the measure asked
about than another quantity of the text (进出口总额 where 出口 was asked). The result is then
computed again from the operands and must be the one stated.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from finassist.finance.calc.binding import (
    RATIO_VALUE_KINDS,
    UNNAMED,
    Binder,
    _cue,
    _measures,
    _roles,
    _unit_parts,
    ask_of,
    formula_fits,
    match_score,
)
from finassist.finance.calc.formulas import Operand, formulas, run
from finassist.finance.calc.quantities import Quantity, currency, find_quantities

_YEARS = re.compile(r"(\d{4})年至(\d{4})年")


def _same_unit(op_unit: str, q: Quantity) -> bool:
    scale, base = _unit_parts(op_unit.replace("％", "%"))
    if q.kind in ("ratio", "pp", "times", "duration"):
        return base == q.base and scale == 1
    if base == "" and q.base == "元" and not q.unit.endswith("元"):
        base = "元"  # 500万的应收账款: written without 元 on both sides
    return scale == q.scale and currency(base) == currency(q.base)


def verify(calculation: dict[str, Any], question: str, texts: list[str]) -> list[str]:
    """The problems of ``calculation`` (its JSON) against ``question`` and ``texts``; [] if none."""
    formula = calculation.get("formula")
    catalogue = formulas()
    if formula not in catalogue:
        return [f"未知公式：{formula}"]
    body = catalogue[formula]
    specs: dict[str, dict[str, Any]] = body["inputs"]
    text = "\n".join([question, *texts])  # the question first: its spans are the operands' home
    quantities = find_quantities(text)
    binder = Binder(
        formula, body, quantities, _measures(formula, body, ask_of(question), question), question
    )
    problems: list[str] = []
    if question and not formula_fits(formula, question, text):
        problems.append(f"问句问的不是“{body['name']}”")
    bound: dict[str, Quantity] = {}
    operands: list[Operand] = []
    for op in calculation.get("operands", []):
        name, spec = op.get("id"), specs.get(op.get("id", ""))
        label = f"{op.get('name', name)} {op.get('value')}{op.get('unit', '')}"
        try:
            value = Decimal(str(op.get("value")))
        except InvalidOperation:
            problems.append(f"{label}：数值无法识别")
            continue
        if spec is None:
            problems.append(f"{label}：公式 {formula} 没有此输入")
            continue
        source = str(op.get("source", ""))
        scale, base = _unit_parts(str(op.get("unit", "")))
        years = _YEARS.fullmatch(source)
        if spec.get("from_periods") and years:
            start, end = int(years.group(1)), int(years.group(2))
            if not (f"{start}年" in text and f"{end}年" in text and Decimal(end - start) == value):
                problems.append(f"{label}：与题中年份“{source}”不符")
            operands.append(
                Operand(name, spec["label"], value, "年", Decimal(1), "年", source, derived=True)
            )
            continue
        at = text.find(source) if source else -1
        if at < 0:
            problems.append(f"{label}：题面与证据中没有“{source}”")
            continue
        inside = [q for q in quantities if at <= q.start < at + len(source)]
        q = next(
            (q for q in reversed(inside) if q.value * q.sign == value or q.value == value), None
        )
        if q is None:
            problems.append(f"{label}：原文“{source}”中没有这个数值")
            continue
        if q.value * q.sign != value:
            problems.append(
                f"{label}：原文“{source}”是{'下降' if q.sign < 0 else '增长'}，符号不符"
            )
            continue
        if not _same_unit(str(op.get("unit", "")), q):
            problems.append(f"{label}：原文单位是“{q.text}”，单位不符")
            continue
        if (
            spec["kind"] not in ("duration", "value")
            and (q.role not in _roles(spec))
            and not (spec["kind"] == q.kind and "level" in _roles(spec) and q.role == "level")
        ):
            problems.append(
                f"{label}：“{q.text}”在原文中是{_ROLE_NAMES.get(q.role, q.role)}，不能作为{spec['label']}"
            )
            continue
        if spec["kind"] == "value" and q.kind not in RATIO_VALUE_KINDS:
            problems.append(f"{label}：“{q.text}”不是比率或倍数，不能作为{spec['label']}")
            continue
        if spec.get("cues") and spec["kind"] != "duration" and not _cue(spec, q):
            problems.append(f"{label}：原文“{source}”说的不是{spec['label']}")
            continue
        words = binder.measures.get(spec.get("measure", ""), ("", None))[0]
        if words and words != UNNAMED and not match_score(words, q.subject):
            problems.append(f"{label}：“{q.source or q.text}”不是问句所问的“{words}”")
            continue
        better = binder.candidates(name, spec, {b.start for b in bound.values()})
        if better and q not in better and (spec.get("measure") or spec.get("cues")):
            problems.append(f"{label}：问的是另一项指标（原文中更匹配的是 {better[0].text}）")
            continue
        bound[name] = q
        operands.append(Operand(name, spec["label"], abs(value) if q.sign < 0 else value, str(op.get("unit", "")),
                                scale, base or ("元" if q.base == "元" else base), source, q.sign))  # fmt: skip
    missing = [specs[n]["label"] for n in specs if n not in {o.id for o in operands}]
    if missing and not problems:
        problems.append(f"缺少输入：{'、'.join(missing)}")
    problems += _period_problems(specs, bound)
    if problems:
        return problems
    basis = calculation.get("constants", {}).get("basis")
    constants = {"basis": Decimal(basis)} if basis else None
    try:
        again = run(formula, operands, asked=ask_of(question).unit, constants=constants)
    except Exception as exc:
        return [f"无法按公式重新计算：{exc}"]
    if again.result_text != calculation.get("result_text") or again.unit != calculation.get("unit"):
        return [f"结果与按公式重新计算的 {again.result_text} 不符"]
    return []


_ROLE_NAMES = {"change": "增减额", "rate": "增长率", "share": "占比", "level": "水平值", "ratio": "比率",
               "pp": "百分点变化"}  # fmt: skip


def _period_problems(specs: dict[str, dict[str, Any]], bound: dict[str, Quantity]) -> list[str]:
    current = next(
        (bound[n] for n, s in specs.items() if s.get("period") == "current" and n in bound), None
    )
    previous = next(
        (bound[n] for n, s in specs.items() if s.get("period") == "previous" and n in bound), None
    )
    if current is None or previous is None or current.kind != previous.kind:
        return []
    if current.position or previous.position:
        if current.position == "start" or previous.position == "end":
            return [f"本期与上期颠倒：{current.text} / {previous.text}"]
        return []
    if current.rank is not None and previous.rank is not None and current.rank <= previous.rank:
        return [f"本期与上期颠倒：{current.text} / {previous.text}"]
    return []
