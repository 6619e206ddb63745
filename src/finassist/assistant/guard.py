"""The evidence guard: every figure, invoice number and date in an answer must be in the evidence.

It reads the answer as a user would (numbers with thousands separators, percentages, ISO dates,
20-digit invoice numbers), normalises each claim and looks it up among the values of the cited
evidence. Sentences with claims that no evidence holds are removed and listed.

>>> ev = [Evidence("m", "metric", "s", {"value": Decimal("0.25")}, "")]
>>> check("逾期率为 25.00%[1]。", ev).unsupported
[]
>>> check("逾期率为 40.00%[1]。", ev).unsupported
['40.00%']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from finassist.assistant.types import Evidence

_CITATION = re.compile(r"\[\d+\]")
_INVOICE_NO = re.compile(r"(?<!\d)\d{20}(?!\d)")
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?![\d-])")
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

    def add_number(self, value: Decimal) -> None:
        # A ratio may be stated as a percentage, money to two decimals, days to one; the sign
        # is read as words (净流出) as often as as a minus.
        value = abs(value)
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
            self.strings.add(value)
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


def _facts(evidence: Iterable[Evidence]) -> _Facts:
    facts = _Facts()
    for item in evidence:
        for value in _flatten(item.data):
            facts.add(value)
        facts.add(item.text)
    return facts


def claims(sentence: str) -> list[tuple[str, str]]:
    """The checkable claims in a sentence: ``(kind, text)`` with kind invoice | date | number."""
    found: list[tuple[str, str]] = []
    text = _LIST_MARKER.sub("", _CITATION.sub("", sentence))
    for pattern, kind in ((_INVOICE_NO, "invoice"), (_DATE, "date"), (_MONTH, "date")):
        for match in pattern.finditer(text):
            found.append((kind, match.group(0)))
        text = pattern.sub(" ", text)
    for match in _NUMBER.finditer(text):
        found.append(("number", match.group(0)))
    return found


def _supported(kind: str, claim: str, facts: _Facts) -> bool:
    if kind in ("invoice", "date"):
        return claim in facts.strings
    value = _decimal(claim.rstrip("%"))
    if value is None:
        return False
    if not claim.endswith("%") and "." not in claim and value <= _MAX_STRUCTURAL:
        return True
    return value.normalize() in facts.numbers


def check(text: str, evidence: Iterable[Evidence]) -> GuardReport:
    """Remove sentences holding claims the evidence does not support; list those claims."""
    facts = _facts(evidence)
    kept: list[str] = []
    unsupported: list[str] = []
    for sentence in _SENTENCE.findall(text):
        if not sentence:
            continue
        bad = [c for k, c in claims(sentence) if not _supported(k, c, facts)]
        if bad:
            unsupported.extend(bad)
        else:
            kept.append(sentence)
    return GuardReport("".join(kept).strip(), unsupported)
