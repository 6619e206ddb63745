"""A summary of risk events and abnormal invoices: the level a relationship manager sees first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from finassist.finance.analytics.concentration import AbnormalInvoices
from finassist.finance.rows import RiskEventRow


@dataclass(frozen=True)
class RiskSignals:
    """A summary of risk events and abnormal invoices.

    ``level``: 高 with an open execution or open high-severity event; 中 with any other open event
    or an abnormal invoice; 低 otherwise. Closed events are counted but do not raise the level.
    """

    level: str
    open_events: int
    counts_by_kind: dict[str, int]
    open_counts_by_kind: dict[str, int]
    on_execution_list: bool
    has_litigation: bool


def risk_signals(events: list[RiskEventRow], abnormal: AbnormalInvoices) -> RiskSignals:
    """Summarise an enterprise's risk events (all of them) and abnormal invoices."""
    open_events = [e for e in events if e.status == "open"]
    if any(e.kind == "execution" or e.severity == "high" for e in open_events):
        level = "高"
    else:
        level = "中" if open_events or abnormal.invoices else "低"
    open_kinds = Counter(e.kind for e in open_events)
    return RiskSignals(
        level,
        len(open_events),
        dict(Counter(e.kind for e in events)),
        dict(open_kinds),
        open_kinds["execution"] > 0,
        open_kinds["litigation"] > 0,
    )
