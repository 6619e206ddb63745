"""What a turn produces: evidence items and the reply that cites them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finassist.finance.base import Record, jsonable


@dataclass(frozen=True)
class Evidence:
    """One cited source. ``[n]`` in a reply's text is the n-th item of ``Reply.evidence``."""

    id: str
    kind: str
    source: str
    data: dict[str, Any]
    text: str

    @classmethod
    def from_record(cls, record: Record) -> Evidence:
        """Evidence from a finance tool's record."""
        return cls(record.id, record.kind, record.source, record.data, record.text)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: ``{"id", "kind", "source", "data", "text"}``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "data": jsonable(self.data),
            "text": self.text,
        }


@dataclass
class Reply:
    """The assistant's answer to one message."""

    session_id: str
    text: str
    intent: str
    evidence: list[Evidence] = field(default_factory=list)
    recommendation: dict[str, Any] | None = None
    unverified: list[str] = field(default_factory=list)
    clarification: bool = False
    enterprise_id: str | None = None
    chart: dict[str, Any] | None = None  # {"spec", "svg", "png_path"} when the answer has one
    meta: dict[str, Any] = field(default_factory=dict)  # model, backend, fallbacks (issue 4)
    turn_id: int | None = None  # the stored turn's sequence number (None: not stored)
    # {"formula", "operands": [{"name", "value", "unit", "source"}], "result", "unit", "steps"};
    # None when no calculation was made or the guard withheld it.
    calculation: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``finassist ask --json`` shape."""
        return {
            "session_id": self.session_id,
            "text": self.text,
            "intent": self.intent,
            "evidence": [e.to_json() for e in self.evidence],
            "recommendation": jsonable(self.recommendation) if self.recommendation else None,
            "unverified": self.unverified,
            "clarification": self.clarification,
            "enterprise_id": self.enterprise_id,
            "chart": self.chart,
            "turn_id": self.turn_id,
            "calculation": self.calculation,
            **({"meta": self.meta} if self.meta else {}),
        }
