"""Composing a grounded answer: number the evidence, cite it, format figures the same way.

Every figure in a composed answer is formatted by :func:`money`, :func:`percent`, :func:`days`
or :func:`count` (from :mod:`finassist.finance.figures`, shared with the report) from a value
that a tool returned, and the sentence cites the evidence that holds that value. The evidence
guard then re-checks the finished text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from finassist.assistant.types import Evidence
from finassist.finance.base import Record, ToolResult, jsonable
from finassist.finance.figures import NO_DATA, count, days, money, percent

__all__ = [
    "NO_DATA",
    "EvidenceBook",
    "count",
    "days",
    "iso",
    "money",
    "percent",
    "template",
    "templates",
    "tool_evidence",
]


@lru_cache(maxsize=1)
def templates() -> dict[str, Any]:
    """The Chinese answer templates (``data/templates.yaml``), parsed once."""
    text = resources.files("finassist.assistant").joinpath("data/templates.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def template(path: str) -> str:
    """The template at a dotted path, e.g. ``cashflow.summary``."""
    node: Any = templates()
    for part in path.split("."):
        node = node[part]
    return str(node)


def _values(data: Any) -> Iterable[Any]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _values(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _values(value)
    else:
        yield data


def _holds(record: Record) -> tuple[frozenset[Any], list[Any]]:
    """The JSON values of a record's data: the hashable ones as a set (one lookup per cited
    value instead of a walk over every record's data), the others to compare one by one."""
    hashable: set[Any] = set()
    other: list[Any] = []
    for value in _values(record.data):
        plain = jsonable(value)
        try:
            hashable.add(plain)
        except TypeError:
            other.append(plain)
    return frozenset(hashable), other


@dataclass
class EvidenceBook:
    """The numbered evidence of one reply; ``cite`` adds items and returns ``[n][m]``."""

    items: list[Evidence] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    _held: dict[int, tuple[Record, frozenset[Any], list[Any]]] = field(default_factory=dict)

    def add(self, evidence: Evidence) -> int:
        """Number of ``evidence`` in this reply (added once, whatever how often it is cited)."""
        if evidence.id not in self._index:
            self.items.append(evidence)
            self._index[evidence.id] = len(self.items)
        return self._index[evidence.id]

    def cite_records(self, records: Iterable[Record]) -> str:
        """Cite each record: ``[1][2]``."""
        numbers = sorted({self.add(Evidence.from_record(r)) for r in records})
        return "".join(f"[{n}]" for n in numbers)

    def cite_value(self, result: ToolResult, *values: Any, kinds: tuple[str, ...] = ()) -> str:
        """Cite, for each value, the record of ``result`` that states it: a metric whose value
        it is, else the first record whose data holds it.

        A value no record holds is cited through the tool's own output (see
        :meth:`tool_evidence`), which is evidence too: the tool computed it from the database.
        """
        chosen: list[Record] = []
        missing = False
        for value in values:
            wanted = jsonable(value)
            allowed = [r for r in result.records if not kinds or r.kind in kinds]
            # A figure is cited to the computed metric stating it before any row that merely
            # holds an equal value (逾期金额 0.00 元 is not an invoice whose paid amount is 0).
            stated = [
                r for r in allowed if r.kind == "metric" and jsonable(r.data.get("value")) == wanted
            ]
            record = next((r for r in [*stated, *allowed] if self._states(r, wanted)), None)
            if record is None:
                missing = True
            elif record not in chosen:
                chosen.append(record)
        cite = self.cite_records(chosen)
        if missing:
            cite += f"[{self.add(tool_evidence(result))}]"
        return cite

    def _states(self, record: Record, wanted: Any) -> bool:
        """Whether any value of ``record``'s data equals ``wanted`` (JSON forms compared)."""
        held = self._held.get(id(record))
        if held is None or held[0] is not record:  # kept with the record: its id stays its own
            held = self._held[id(record)] = (record, *_holds(record))
        _, hashable, other = held
        try:
            if wanted in hashable:
                return True
        except TypeError:  # a list or dict: equal to no scalar value
            pass
        return any(value == wanted for value in other)

    def cite_tool(self, result: ToolResult) -> str:
        """Cite the tool's output as a whole."""
        return f"[{self.add(tool_evidence(result))}]"


def tool_evidence(result: ToolResult) -> Evidence:
    """The tool's structured output as one evidence item (figures it computed)."""
    args = ", ".join(f"{k}={v}" for k, v in sorted(jsonable(result.args).items()))
    return Evidence(
        id=f"tool:{result.tool}:{args}",
        kind="tool",
        source=f"计算·{result.tool}",
        data=result.data,
        text=f"工具 {result.tool}（{args}）的计算结果",
    )


def iso(value: date | str | None) -> str:
    """A date as ``YYYY-MM-DD`` (``—`` when absent)."""
    if value is None:
        return "—"
    return value.isoformat() if isinstance(value, date) else str(value)
