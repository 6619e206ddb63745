"""The evidence guard: every figure, invoice number and date in an answer must be in the evidence.

It reads the answer as a user would (numbers with thousands separators, percentages, 万/亿,
full-width digits, Chinese numerals such as 六十万 or 百分之三十五, dates as 2026-03-05 or
2026年3月5日, 20-digit invoice numbers, company names), normalises each claim and looks it up
among the values of the cited evidence. Sentences with claims that no evidence holds are
removed (or the claims marked) and listed. A figure stated with less precision (约60万) is
supported by an evidence value that rounds to it.

>>> ev = [Evidence("m", "metric", "s", {"value": Decimal("0.25")}, "")]
>>> check("逾期率为 25.00%[1]。", ev).unsupported
[]
>>> check("逾期率为 40.00%[1]。", ev).unsupported
['40.00%']
>>> check("逾期率为百分之二十五。", ev).unsupported
[]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from finassist.assistant.types import Evidence
from finassist.numerals import _CN_BIG_UNIT, _CN_SMALL_UNIT, chinese_numeral

_CITATION = re.compile(r"\[\d+\]")
_INVOICE_NO = re.compile(r"(?<!\d)\d{20}(?!\d)")
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")
_CN_DATE = re.compile(r"(?<!\d)(\d{4})\s*(?:年|/|\.)\s*(\d{1,2})\s*(?:月|/|\.)\s*(\d{1,2})\s*日?")
_CN_MONTH = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d)")
_UNIT_NUMBER = re.compile(
    r"(?<![0-9A-Za-z.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*(万亿|万|亿)(?:元)?"
)
_CN_NUMBER = re.compile(
    r"(百分之)?([零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二两三四五六七八九]+[万亿]?)?)"
    r"(元|个百分点|%)?"
)
_COMPANY = re.compile(
    r"[\u4e00-\u9fffA-Za-z0-9（）()]{2,30}?(股份有限公司|有限责任公司|有限公司|股份公司|集团)"
    r"(?!客户|内部|化|层面)"
)
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")
_MULTIPLIER = {"万": Decimal(10) ** 4, "亿": Decimal(10) ** 8, "万亿": Decimal(10) ** 12}
_NUMBER = re.compile(r"(?<![0-9A-Za-z.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(%?)")
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.、)]|[-*•])\s*", re.MULTILINE)
_SENTENCE = re.compile(r"[^。！？\n]*[。！？\n]?")
_MAX_STRUCTURAL = 12  # "前5大", "近12个月": small counts that name a window, not a figure


@dataclass
class GuardReport:
    """What the guard found: the cleaned text and the claims it could not verify."""

    text: str
    unsupported: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, list | tuple | set):
        yield len(value)  # "共 N 条" counts the items of an evidence list
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


@dataclass
class _Facts:
    numbers: set[Decimal] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)
    raw: set[Decimal] = field(default_factory=set)
    haystack: list[str] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)  # read already: evidence repeats its values

    def add_number(self, value: Decimal) -> None:
        # A ratio may be stated as a percentage, money to two decimals, days to one; the sign
        # is read as words (净流出) as often as as a minus.
        value = abs(value)
        if value in self.raw:  # an equal number has the same forms
            return
        self.raw.add(value)
        for candidate in (value, value * 100):
            self.numbers.add(candidate.normalize())
            for places in ("0.01", "0.1", "1"):
                self.numbers.add(candidate.quantize(Decimal(places)).normalize())

    def add(self, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float | Decimal):
            self.add_number(Decimal(str(value)))
        elif isinstance(value, date):
            self.strings.add(value.isoformat())
            self.strings.add(value.isoformat()[:7])
        elif isinstance(value, str):
            if value in self.texts:
                return
            self.texts.add(value)
            self.strings.add(value)
            self.haystack.append(value)
            for match in _DATE.finditer(value):
                self.strings.add(match.group(0))
                self.strings.add(match.group(0)[:7])
            for match in _INVOICE_NO.finditer(value):
                self.strings.add(match.group(0))
            # Numbers of a text, but not the pieces of its dates and invoice numbers.
            rest = _INVOICE_NO.sub(" ", _DATE.sub(" ", value))
            for match in _NUMBER.finditer(rest):
                number = _decimal(match.group(0).rstrip("%"))
                if number is not None:
                    self.add_number(number)
            # A document (KB passage) writes as people do: 2026年3月5日, 500万元, 六十万.
            for kind, _claim, normal, _span in _extract(value.translate(_FULL_WIDTH)):
                if kind == "date":
                    self.strings.add(normal)
                    self.strings.add(normal[:7])
                elif kind in ("amount", "cn_number"):
                    self.add_number(normal[0])


def _facts(evidence: Iterable[Evidence]) -> _Facts:
    facts = _Facts()
    for item in evidence:
        for value in _flatten(item.data):
            facts.add(value)
        facts.add(item.text)
        facts.haystack.append(item.source)
    return facts


def _granularity(numeral: str) -> Decimal:
    """How precisely a Chinese numeral states its value: 六十万 to the 万, 一点二亿 to 0.1 亿."""
    big = _CN_BIG_UNIT.get(numeral[-1:], Decimal(1))
    whole, _, fraction = numeral.rstrip("万亿").partition("点")
    unit = big
    if big == 1 and whole[-1:] in _CN_SMALL_UNIT and len(whole) > 1:
        unit = Decimal(_CN_SMALL_UNIT[whole[-1]])
    return unit / (Decimal(10) ** len(fraction))


_IDIOMS = ("千万", "万一", "一一", "万万", "百万", "亿万", "一点", "十分", "一一")
_Claim = tuple[str, str, Any, tuple[int, int]]  # kind, text, normalised value, span


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _extract(text: str) -> list[_Claim]:
    """Every checkable claim in ``text`` (digits already half-width), with its span."""
    found: list[_Claim] = []

    def take(kind: str, match: re.Match[str], normal: Any) -> None:
        nonlocal text
        found.append((kind, match.group(0).strip(), normal, match.span()))
        text = _blank(text, *match.span())

    for match in list(_INVOICE_NO.finditer(text)):
        take("invoice", match, match.group(0))
    for match in list(_CN_DATE.finditer(text)):
        y, m, d = match.groups()
        take("date", match, f"{y}-{int(m):02d}-{int(d):02d}")
    for match in list(_DATE.finditer(text)):
        take("date", match, match.group(0))
    for match in list(_CN_MONTH.finditer(text)):
        take("date", match, f"{match.group(1)}-{int(match.group(2)):02d}")
    for match in list(_MONTH.finditer(text)):
        take("date", match, match.group(0))
    for match in list(_UNIT_NUMBER.finditer(text)):
        whole, fraction, unit = match.groups()
        value = Decimal(whole.replace(",", "") + ("." + fraction if fraction else ""))
        step = _MULTIPLIER[unit] / (Decimal(10) ** len(fraction or ""))
        take("amount", match, (value * _MULTIPLIER[unit], step))
    for match in list(_CN_NUMBER.finditer(text)):
        prefix, numeral, unit = match.groups()
        if numeral in _IDIOMS and not unit:
            continue
        value = chinese_numeral(numeral)
        if value is None:
            continue
        if prefix or unit in ("%", "个百分点"):
            take("number", match, f"{value}%")
        elif unit == "元" or (numeral[0] not in "万亿百千" and numeral[-1] in "万亿"):
            take("cn_number", match, (value, _granularity(numeral)))
    for match in list(_NUMBER.finditer(text)):
        take("number", match, match.group(0))
    return found


def claims(sentence: str) -> list[tuple[str, str]]:
    """The checkable claims in a sentence: ``(kind, text)``; kind invoice | date | number |
    amount | cn_number."""
    return [(kind, claim) for kind, claim, _, _ in _claims(sentence)]


def _claims(sentence: str) -> list[_Claim]:
    # Citations and list markers are blanked, not removed, so spans stay those of the sentence.
    text = _CITATION.sub(lambda m: " " * len(m.group(0)), sentence.translate(_FULL_WIDTH))
    text = _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), text)
    return _extract(text)


def _near(value: Decimal, step: Decimal, facts: _Facts) -> bool:
    half = step / 2
    return any(abs(n - value) <= half for n in facts.raw)


def _supported(kind: str, claim: str, facts: _Facts, normal: Any = None) -> bool:
    if kind == "invoice":
        return claim in facts.strings
    if kind == "date":
        return (normal or claim) in facts.strings
    if kind in ("amount", "cn_number"):
        value, step = normal
        return _near(value, step, facts)
    claim = normal if isinstance(normal, str) else claim
    value = _decimal(claim.rstrip("%"))
    if value is None:
        return False
    if not claim.endswith("%") and "." not in claim and value <= _MAX_STRUCTURAL:
        return True
    return value.normalize() in facts.numbers


def _companies(
    sentence: str, facts: _Facts, names: Iterable[str], *, formal: bool
) -> list[tuple[str, tuple[int, int]]]:
    """Company names in the sentence that no evidence mentions."""
    haystack = "\n".join(facts.haystack)
    bad: list[tuple[str, tuple[int, int]]] = []
    for match in _COMPANY.finditer(sentence) if formal else ():
        name = match.group(0)
        # The pattern may start too early (我们查询了华东汽车集团): any tail of it found in the
        # evidence is the real name.
        core = len(name) - len(match.group(1)) - 2  # at least two characters before 有限公司
        if not any(name[i:] in haystack for i in range(max(core, 0) + 1)):
            bad.append((name, match.span()))
    for name in names:
        if name and name in sentence and name not in haystack:
            start = sentence.index(name)
            bad.append((name, (start, start + len(name))))
    return bad


MARK = "〔未核实〕"


def check(
    text: str,
    evidence: Iterable[Evidence],
    *,
    names: Iterable[str] = (),
    companies: bool = False,
    mode: str = "remove",
) -> GuardReport:
    """Check every claim against the evidence; list those it does not support.

    ``mode="remove"`` drops the sentences that hold them; ``mode="mark"`` keeps the sentence and
    puts 〔未核实〕 after each unsupported claim. ``names``: company names (e.g. every company
    the caller can see) that may only be named when the evidence names them; ``companies``
    also checks every formal company name (…有限公司, …集团) in the text. The offline composer
    names the company in focus from the directory, so it leaves this off; a model's answer
    turns it on.
    """
    return _check(text, _facts(evidence), list(names), companies=companies, mode=mode)


def checker(evidence: Iterable[Evidence]) -> Callable[[str, Iterable[str]], list[str]]:
    """:func:`check` (``companies=True``) for many short texts against one set of evidence,
    read once: returns the claims of a text the evidence does not support.

    >>> unsupported = checker([Evidence("m", "metric", "s", {"value": Decimal("0.25")}, "")])
    >>> unsupported("逾期率为 25.00%[1]。", ()), unsupported("逾期率为 40%。", ())
    ([], ['40%'])
    """
    facts = _facts(evidence)

    def unsupported(text: str, names: Iterable[str]) -> list[str]:
        return _check(text, facts, list(names), companies=True, mode="remove").unsupported

    return unsupported


def _check(
    text: str, facts: _Facts, names: list[str], *, companies: bool, mode: str
) -> GuardReport:
    kept: list[str] = []
    unsupported: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if not sentence:
            continue
        bad = [
            (claim, span)
            for kind, claim, normal, span in _claims(sentence)
            if not _supported(kind, claim, facts, normal)
        ]
        if companies or names:
            bad += _companies(sentence, facts, names, formal=companies)
        unsupported.extend(claim for claim, _ in sorted(bad, key=lambda b: b[1]))
        if not bad:
            kept.append(sentence)
        elif mode == "mark":
            for _claim, (_start, end) in sorted(bad, key=lambda b: b[1][1], reverse=True):
                sentence = sentence[:end] + MARK + sentence[end:]
            kept.append(sentence)
    return GuardReport("".join(kept).strip(), list(dict.fromkeys(unsupported)))


# -- structured outputs ---------------------------------------------------------------------------

_CHECKED_FIELDS = ("recommended_amount", "confidence", "risk_score")


def check_recommendation(
    data: dict[str, Any], evidence: Iterable[Evidence]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate a recommendation JSON against its schema and check its numbers.

    Returns the validated JSON (None when invalid) and the problems found: schema errors and
    ``字段=值`` for numbers the evidence does not hold.
    """
    from finassist.finance.base import jsonable
    from finassist.finance.recommend import Recommendation

    try:
        rec = Recommendation.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"推荐结果格式有误：{'.'.join(str(p) for p in e['loc']) or '整体'}：{e['msg']}"
            for e in exc.errors()
        ]
        return None, problems
    facts = _facts(evidence)
    values: list[tuple[str, Any]] = [(f, getattr(rec, f)) for f in _CHECKED_FIELDS]
    values += [
        (f"recommended_rate_range[{i}]", v) for i, v in enumerate(rec.recommended_rate_range or [])
    ]
    values += [(f"drivers.{d.key}", d.value) for d in rec.drivers]
    bad = []
    for name, value in values:
        if value is None:
            continue
        number = abs(Decimal(str(value)))
        if number.normalize() not in facts.numbers and number not in facts.raw:
            bad.append(f"{name}={value}")
    return (jsonable(rec.model_dump()) if not bad else None), bad


# -- calculations ---------------------------------------------------------------------------------


def is_calculation_evidence(item: Evidence) -> bool:
    """The calculator's own output: never a source of its operands, nor of a withheld result."""
    return item.kind == "calculation" or item.id.startswith("tool:calculate:")


def check_calculation(
    calculation: dict[str, Any] | None, question: str, evidence: Iterable[Evidence]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Re-verify a calculation: each operand bound to a span of the question or the evidence
    with the same value and unit, in the role and for the measure the formula needs, and the
    result recomputed from the operands.

    Returns the calculation (None when it fails) and the problems found. The calculation's own
    evidence record does not count as a source of its operands.

    >>> calc = {"formula": "share", "result_text": "49.55%", "unit": "%", "operands": [
    ...     {"id": "part", "value": "160.1", "unit": "亿美元", "source": "出口160.1亿美元"},
    ...     {"id": "total", "value": "323.11", "unit": "亿美元", "source": "总额323.11亿美元"}]}
    >>> check_calculation(calc, "出口占进出口总额的比重是多少？",
    ...                   [Evidence("q", "text", "s", {}, "进出口总额323.11亿美元，其中出口160.1亿美元")])[1]
    []
    """
    from finassist.finance.calc.check import verify

    if calculation is None:
        return None, []
    texts = [e.text for e in evidence if not is_calculation_evidence(e)]
    problems = verify(calculation, question, texts)
    return (None if problems else calculation), problems
