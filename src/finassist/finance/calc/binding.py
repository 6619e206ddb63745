"""From a word problem to a formula with bound operands, or a refusal that says what is missing.

The asking clause picks the formula (its keywords) and names the measure asked about (出口额,
常住人口 ...). Each formula input is then bound to exactly one quantity of the text: one of the
right kind and role (a change such as 比上年增加324万人 is never a level), measuring the asked
thing (出口 rather than 进出口总额), of the right period (2024年 rather than 2023年) and in the same
unit as its partners (亿美元 with 亿美元). When no quantity or more than one fits, the calculator
declines and names the quantity it could not identify: it never picks a number by position.

>>> bind_question("出口额同比增长率是多少？", "出口160.1亿美元，上年出口150亿美元。").formula
'growth_rate'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finassist.errors import InvalidInput
from finassist.finance.calc.formulas import Calculation, Operand, Target, formulas, run
from finassist.finance.calc.quantities import (
    SCALES,
    Quantity,
    clean_label,
    currency,
    find_quantities,
    unit_text,
)

MAX_TEXT_CHARS = 5000
UNNAMED = "?"  # the measure of a compared item the question does not name
_ASK = re.compile(r"多少|几|是否|怎么算|如何计算|计算|算一下|算算|求|[？?]|什么水平")
_ASK_UNIT = re.compile(
    r"多少\s*(万亿|亿|千万|百万|万|千)?\s*(美元|港元|欧元|日元|英镑|元|人次|人|户|家|辆|吨|件|笔|个)"
)
_ASK_WORDS = re.compile(
    r"(?:是|为|有)?多少\s*(?:万亿|亿|千万|百万|万|千)?\s*(?:美元|港元|欧元|日元|英镑|元|人次|人|户|家|辆|吨|件|笔|个|钱)?|"
    r"请问|请计算|请帮我算|帮我算|帮忙算|算一下|算算|计算|大概|大约|约|一共|"
    r"百分之几|几个百分点|个百分点|百分点|几倍|是几|几|呢|吗|啊|[？?。！!，,]|的$|^的|了|是|为|有|能|可以|%"
)
_COMPARISON = re.compile(
    r"同比|环比|(?:比|较|相比)(?:上年同期|上年|去年同期|去年|上期|上月|上季度|年初|同期)|上年|去年|今年|本年|本期|上期"
)
_YEAR = re.compile(r"(\d{4})年")
_SYNONYMS = {"GDP": "地区生产总值", "gdp": "地区生产总值", "国内生产总值": "地区生产总值", "营收": "营业收入",
             "净利": "净利润", "销售收入": "营业收入", "销售额": "营业收入", "人口数": "人口"}  # fmt: skip
_SUFFIX = re.compile(r"(?:总额|金额|总量|规模|数量|额|量|值|数)$")
_SHARE_ASK = re.compile(r"(.*?)占(.*?)(?:的)?(?:比重|比例|份额|百分之几|多少|比|$)")
_VERSUS = re.compile(r"(.*?)比(.+?)(?:多|少|高|低|大|小)")
_TIMES = re.compile(r"(.*?)是(.+?)的(?:多少|几)倍")
_SUM = re.compile(r"(.*?)(?:和|与|加上|及)(.+?)(?:合计|一共|总共|之和|加起来|共计|总计|加总)")
_SUM_OF = re.compile(r"[和与及].{1,16}?(?:的和|之和|的总和|合计|加总|加起来)")
_BASIS = re.compile(r"(?:按|一年按?|计息基础为?|年计息天数为?|每年按?)\s*(360|365)\s*天")


_COMPATIBLE = ({"ratio", "times"}, {"amount", "per"})


class Declined(InvalidInput):
    """The calculator will not guess: the formula or an operand could not be identified."""


@dataclass(frozen=True)
class Ask:
    """What the question asks: its clause, the kind of result and a unit it names."""

    clause: str
    kind: str  # amount | ratio | pp | times | days | per | any
    unit: Target | None


def ask_of(question: str) -> Ask:
    """The asking clause of ``question`` and what kind of answer it wants."""
    matches = list(_ASK.finditer(question))
    clause = question
    if matches:
        at = matches[-1].start()
        start = max(question.rfind(ch, 0, at) for ch in "，,。；;\n") + 1
        clause = question[start:]
    if re.search(r"个百分点|百分点", clause):
        kind = "pp"
    elif re.search(r"多少倍|几倍|倍数", clause):
        kind = "times"
    elif "人均" in clause:
        kind = "per"
    elif re.search(r"率|比重|占比|比例|百分之|%|份额|增速|增幅|降幅", clause):
        kind = "ratio"
    elif re.search(
        r"多少钱|多少元|多少万|多少亿|多少美元|多少人|多少户|金额|利息|到账|到手|多少千", clause
    ):
        kind = "amount"
    elif "天数" in clause:
        kind = "days"
    else:
        kind = "any"
    unit = None
    if (m := _ASK_UNIT.search(clause)) is not None:
        unit = Target(SCALES[m.group(1) or ""], currency(m.group(2)))
    return Ask(clause, kind, unit)


def _norm(words: str) -> str:
    for word, same in _SYNONYMS.items():
        words = words.replace(word, same)
    words = re.sub(r"\d{4}年|[\d.]+", "", words)
    return _SUFFIX.sub("", words.strip())


def _lcs(a: str, b: str) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best


def match_score(measure: str, subject: str) -> int:
    """How well a quantity's subject matches the measure asked about; 0 is no match."""
    m, s = _norm(measure), _norm(subject)
    if not m or not s:
        return 0
    common = _lcs(m, s)
    if common < min(2, len(m)) or common * 10 < len(m) * 6:
        return 0
    return common * 10 - (len(s) - common) - (len(m) - common) + (5 if m == s else 0)


def measure_of(clause: str, body: dict[str, Any]) -> str:
    """The measure named in the asking clause, with this formula's words taken out."""
    text = clause
    for keyword in sorted(body["keywords"], key=len, reverse=True):
        if len(keyword) > 1:
            text = text.replace(keyword, " ")
    text = _COMPARISON.sub(" ", text)
    for _ in range(3):
        text = _ASK_WORDS.sub(" ", text)
    text = re.sub(r"\d+(?:\.\d+)?\s*(?:万亿|亿|万|千)?(?:美元|元|人|%)?", " ", text)
    words = [w for w in text.split() if len(w) > 1 or w in ("税",)]
    return clean_label(max(words, key=len)) if words else ""


def _year(words: str) -> float | None:
    found = _YEAR.findall(words)
    return float(found[-1]) if found else None


# -- binding one input -----------------------------------------------------------------------------


def _roles(spec: dict[str, Any]) -> list[str]:
    role = spec.get("role", "level")
    return role if isinstance(role, list) else [role]


RATIO_VALUE_KINDS = ("ratio", "times", "number")  # 流动比率为2 / 资产负债率为60% / 市盈率20倍


def _eligible(spec: dict[str, Any], q: Quantity) -> bool:
    kind = spec["kind"]
    if kind == "value":  # a named ratio's value: bound by the ratio's words, whatever its role
        return q.kind in RATIO_VALUE_KINDS
    if kind == "amount" and q.kind != "amount":
        return False
    if kind in ("ratio", "pp", "duration") and q.kind != kind:
        return False
    if q.role not in _roles(spec) and kind != "duration":
        return False
    if spec.get("base") and q.base != spec["base"]:
        return False
    return not (spec.get("money") and not q.is_money)


def _cue(spec: dict[str, Any], q: Quantity, asked: str = "") -> int:
    """Cue length (x10), plus how much of the quantity's name the question repeats. A quantity
    that sums two things (总负债和股东权益的和) is neither of them: no cue matches it."""
    words = q.label + q.subject
    if _SUM_OF.search(words):
        return 0
    cue = max((len(c) for c in spec.get("cues", []) if c in words), default=0)
    if not cue:
        return 0
    common = _lcs(_norm(q.subject), asked) if asked and q.subject else 0
    return cue * 10 + (common if common >= 2 else 0)


def _best(scored: list[tuple[int, Quantity]]) -> list[Quantity]:
    top = max((s for s, _ in scored), default=0)
    return [q for s, q in scored if s == top and s > 0]


def _distinct(qs: list[Quantity]) -> list[Quantity]:
    seen: dict[tuple[Decimal, str], Quantity] = {}
    for q in qs:
        seen.setdefault((q.base_value * q.sign, q.dimension), q)
    return list(seen.values())


def _listing(qs: list[Quantity]) -> str:
    return "、".join(q.text for q in qs[:4])


@dataclass
class Binder:
    """Binds one formula's inputs to the quantities of one text."""

    formula: str
    body: dict[str, Any]
    quantities: list[Quantity]
    measures: dict[str, tuple[str, float | None]]  # target/part/total/first/second -> words, year
    asked: str = ""  # the question, for cue ties (按户籍人口计算)

    def candidates(self, name: str, spec: dict[str, Any], used: set[int]) -> list[Quantity]:
        """The quantities this input may be bound to, best first (all of them equally good)."""
        pool = [q for q in self.quantities if q.start not in used and _eligible(spec, q)]
        if spec.get("cues"):
            cued = _best([(_cue(spec, q, self.asked), q) for q in pool])
            if cued:
                return cued
            return pool if spec["kind"] == "duration" and len(_distinct(pool)) == 1 else []
        measure = spec.get("measure")
        if measure and measure in self.measures:
            words, year = self.measures[measure]
            if year is not None:
                pool = [q for q in pool if q.rank is not None and int(q.rank) == int(year)]
            if words:
                return _best([(match_score(words, q.subject), q) for q in pool])
        return pool

    def bind(self) -> tuple[list[Operand], list[str]]:
        """The operands, or the quantities that could not be identified (Chinese, for the user)."""
        used: set[int] = set()
        chosen: dict[str, Quantity] = {}
        missing: list[str] = []
        specs: dict[str, dict[str, Any]] = self.body["inputs"]
        years_from_periods = None
        for name, spec in specs.items():
            if name in chosen:
                continue
            cands = self.candidates(name, spec, used)
            partner = next(
                (n for n, s in specs.items() if n != name and s.get("period") and spec.get("period")
                 and s.get("measure") == spec.get("measure") and s.get("kind") == spec.get("kind")),
                None,
            )  # fmt: skip
            if partner is not None and partner not in chosen:
                pair = self._pair(name, spec, partner, cands)
                if isinstance(pair, str):
                    missing.append(pair)
                    continue
                for n, q in pair.items():
                    chosen[n] = q
                    used.add(q.start)
                continue
            if spec.get("period") and len(_distinct(cands)) > 1:
                cands = self._by_period(cands, spec["period"])
            if spec.get("from_periods") and not cands:
                years_from_periods = name
                continue
            distinct = _distinct(cands)
            if len(distinct) == 1:
                chosen[name] = distinct[0]
                used.add(distinct[0].start)
            elif not distinct:
                missing.append(self._describe(spec, "缺少"))
            else:
                missing.append(self._describe(spec, "无法确定") + f"（候选：{_listing(distinct)}）")
        if not missing:
            missing += self._dimension_problems(chosen)
        if missing:
            return [], missing
        operands = [operand(n, specs[n]["label"], q) for n, q in chosen.items()]
        if years_from_periods:
            derived = self._years(chosen, years_from_periods, specs[years_from_periods]["label"])
            if derived is None:
                return [], [self._describe(specs[years_from_periods], "缺少")]
            operands.append(derived)
        order = list(specs)
        return sorted(operands, key=lambda o: order.index(o.id)), []

    def _describe(self, spec: dict[str, Any], verb: str) -> str:
        measure = self.measures.get(spec.get("measure", ""), ("", None))[0]
        if measure == UNNAMED:
            measure = ""
        return f"{verb}“{measure}”的{spec['label']}" if measure else f"{verb}{spec['label']}"

    @staticmethod
    def _by_period(cands: list[Quantity], period: str) -> list[Quantity]:
        ranked = [q for q in cands if q.rank is not None or q.position]
        if len(ranked) != len(cands):
            return cands
        key = [
            (q.rank if q.rank is not None else 0) + (0.5 if q.position == "end" else 0)
            for q in cands
        ]
        best = max(key) if period == "current" else min(key)
        return [q for q, k in zip(cands, key, strict=True) if k == best]

    def _pair(
        self, name: str, spec: dict[str, Any], partner: str, cands: list[Quantity]
    ) -> dict[str, Quantity] | str:
        distinct = _distinct(cands)
        label = self._describe(spec, "无法区分") + "与" + self.body["inputs"][partner]["label"]
        if len(distinct) < 2:
            return self._describe(spec if not distinct else self.body["inputs"][partner], "缺少")
        positions = {q.position for q in distinct}
        if len(distinct) == 2 and positions == {"start", "end"}:
            first, last = sorted(distinct, key=lambda q: q.position == "end")
        else:
            if any(q.rank is None for q in distinct):
                return label + f"（候选：{_listing(distinct)}，请写明各自的时期）"
            ordered = sorted(distinct, key=lambda q: q.rank or 0)
            ranks = [q.rank for q in ordered]
            if len(set(ranks)) != len(ranks):
                return label + f"（候选：{_listing(distinct)}）"
            first, last = ordered[-2], ordered[-1]
        current = last if spec["period"] == "current" else first
        other = first if spec["period"] == "current" else last
        return {name: current, partner: other}

    def _dimension_problems(self, chosen: dict[str, Quantity]) -> list[str]:
        if self.formula == "per_capita":
            return []
        amounts = {q.dimension for q in chosen.values() if q.kind == "amount"}
        if len(amounts) > 1:
            return [
                f"数值单位不一致（{'、'.join(q.text for q in chosen.values())}），不能直接相加减或相除"
            ]
        return []

    def _years(self, chosen: dict[str, Quantity], name: str, label: str) -> Operand | None:
        ranks = [q.rank for q in chosen.values() if q.rank is not None and q.rank > 1900]
        if len(ranks) != 2:
            return None
        start, end = sorted(int(r) for r in ranks)
        if end <= start:
            return None
        return Operand(name, label, Decimal(end - start), "年", Decimal(1), "年",
                       f"{start}年至{end}年", derived=True)  # fmt: skip


def operand(name: str, label: str, q: Quantity) -> Operand:
    """An operand from a bound quantity (its unit completed: 500万 of money is 万元)."""
    unit = (unit_text(q.scale, q.base) if q.base else q.unit) if q.kind == "amount" else q.base
    return Operand(name, label, q.value, unit, q.scale, q.base, q.source or q.text, q.sign)


# -- choosing the formula ---------------------------------------------------------------------------


def _named(body: dict[str, Any], text: str) -> bool:
    """Whether ``text`` names what the formula needs named (a ratio's words, to find a side of
    it from the ratio: 人均营业收入 is no question about 营业利润率)."""
    return not body.get("requires") or any(w in text for w in body["requires"])


def formula_fits(formula: str, question: str, text: str) -> bool:
    """Whether the question asks for what ``formula`` computes (its words or patterns)."""
    body = formulas()[formula]
    ask = ask_of(question)
    if not _named(body, text):
        return False
    return _score(body, ask) > 0 or (
        any(k in text for k in body.get("context_keywords", []))
        and body.get("asks") in (ask.kind, "any")
    )


def _score(body: dict[str, Any], ask: Ask) -> int:
    if any(re.search(p, ask.clause) for p in body.get("patterns", [])):
        return 20
    asks = body.get("asks", "any")
    if (
        ask.kind != "any"
        and asks != "any"
        and {asks, ask.kind} not in _COMPATIBLE
        and asks != ask.kind
    ):
        return 0
    return sum(len(k) for k in body["keywords"] if k in ask.clause)


def _measures(
    formula: str, body: dict[str, Any], ask: Ask, question: str = ""
) -> dict[str, tuple[str, float | None]]:
    clause = ask.clause
    if formula in ("share",):
        m = _SHARE_ASK.match(clause)
        if m:
            return {
                "part": (measure_of(m.group(1), body), None),
                "total": (measure_of(m.group(2), body), None),
            }
        return {"part": (measure_of(clause, body), None)}
    if formula == "part_from_share":
        return {"target": (measure_of(clause, body), None)}
    if formula in ("difference", "multiple", "total_sum"):
        pattern = {"difference": _VERSUS, "multiple": _TIMES, "total_sum": _SUM}[formula]
        m = pattern.match(clause)
        if not m:
            return {"first": (UNNAMED, None), "second": (UNNAMED, None)}
        first, second = m.group(1), m.group(2)
        first_words, second_words = measure_of(first, body), measure_of(second, body)
        if not second_words and first_words:
            second_words = first_words  # 2024年出口比2023年多多少
        return {
            "first": (first_words or UNNAMED, _year(first)),
            "second": (second_words or UNNAMED, _year(second)),
        }
    return {"target": (measure_of(clause, body) or measure_of(question, body), None)}


def bind_question(question: str, context: str | None = None) -> Calculation:
    """Parse a word problem into a formula and bound operands and compute it.

    Raises :class:`Declined` (an :class:`InvalidInput`) naming what could not be identified.
    """
    text = f"{context or ''}\n{question}".strip()
    if not question.strip() and not text:
        raise InvalidInput(
            f"请给出要计算的问题（不超过 {MAX_TEXT_CHARS} 字），例如：营业收入356.2亿元，同比增长8.3%，比上年增加了多少亿元？"
        )
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"计算问题过长（超过 {MAX_TEXT_CHARS} 字），请只给出相关的段落。")
    ask = ask_of(question or text)
    catalogue = formulas()
    scored = sorted(
        ((s, n) for n, b in catalogue.items() if _named(b, text) and (s := _score(b, ask)) > 0),
        key=lambda p: -p[0],
    )
    if not scored:
        scored = sorted(
            ((s, n) for n, b in catalogue.items()
             if (s := sum(1 for k in b.get("context_keywords", []) if k in text)) > 0
             and b.get("asks") in (ask.kind, "any")),
            key=lambda p: -p[0],
        )  # fmt: skip
    if not scored:
        raise Declined(
            "没能识别要计算的指标。可计算："
            + "、".join(b["name"] for b in catalogue.values())
            + "。请在问题中写明指标名称，例如“拨备覆盖率是多少”。"
        )
    basis = _BASIS.search(text)
    quantities = [
        q for q in find_quantities(text) if not (basis and basis.start() <= q.start < basis.end())
    ]
    top = scored[0][0]
    problems: list[str] = []
    for score, name in scored:
        if score < top:
            break
        body = catalogue[name]
        binder = Binder(name, body, quantities, _measures(name, body, ask, question), question)
        operands, missing = binder.bind()
        if missing:
            absent = [m[2:] for m in missing if m.startswith("缺少")]
            other = [m for m in missing if not m.startswith("缺少")]
            parts = ([f"题中没有找到{'、'.join(absent)}"] if absent else []) + other
            if any(words == UNNAMED for words, _ in binder.measures.values()):
                parts.append("没看出是哪两项相比，请写成“甲是乙的几倍”或“甲比乙多多少”")
            problems.append(f"计算{body['name']}：" + "；".join(parts))
            continue
        constants = (
            {"basis": Decimal(basis.group(1))}
            if basis and "basis" in (body.get("constants") or {})
            else None
        )
        calc = run(name, operands, asked=ask.unit, constants=constants)
        _check_asked_unit(calc, ask, operands)
        return calc
    raise Declined(
        "无法可靠地计算，没有给出结果："
        + "。".join(problems[:2])
        + "。请写明这些数值及其单位后再问。"
    )


def _check_asked_unit(calc: Calculation, ask: Ask, operands: list[Operand]) -> None:
    if ask.unit is None or calc.result_kind != "amount":
        return
    bases = {currency(o.base) for o in operands if o.base not in ("%", "个百分点", "天", "年")}
    if bases and ask.unit.base not in bases:
        raise Declined(
            f"问题要求以{ask.unit.text}作答，但题中数值的单位是{'、'.join(o.unit for o in operands)}，"
            "单位不同不能换算，没有给出结果。"
        )


def _unit_parts(unit: str) -> tuple[Decimal, str]:
    for word in sorted(SCALES, key=len, reverse=True):
        if word and unit.startswith(word):
            return SCALES[word], unit[len(word) :]
    return Decimal(1), unit
