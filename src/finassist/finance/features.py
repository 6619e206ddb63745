"""The features the recommendation rules read, computed from the database for one enterprise.

Each feature is a ``Decimal`` (or None when there is no data to compute it from) plus the ids of
the evidence records it was computed from. Names, units and formulas are in
``data/recommend_rules.yaml``; the definitions match the tools' metrics of the same name, so a
figure the assistant cites from a tool and a driver of a recommendation never disagree.
Windows: 12 calendar months up to ``as_of`` unless stated otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from finassist.finance import analytics as an
from finassist.finance import rows as rw
from finassist.finance.base import ToolContext
from finassist.finance.evidence import Evidence

FEATURE_WINDOW_MONTHS = 12
RISK_EVENT_FEATURES = {
    "execution": "open_execution_events",
    "litigation": "open_litigation_events",
    "tax_violation": "open_tax_violations",
    "admin_penalty": "open_admin_penalties",
}


@dataclass(frozen=True)
class Feature:
    """A feature value and the evidence record ids it rests on."""

    value: Decimal | None
    inputs: list[str] = field(default_factory=list)


def whole_months(since: date, as_of: date) -> int:
    """Whole calendar months from ``since`` to ``as_of`` (0 if ``since`` is later).

    >>> whole_months(date(2025, 10, 31), date(2026, 10, 31))
    12
    >>> whole_months(date(2025, 11, 1), date(2026, 10, 31))
    11
    """
    months = (as_of.year - since.year) * 12 + as_of.month - since.month
    return max(months - (as_of.day < since.day), 0)


def compute_features(ctx: ToolContext, row: rw.EnterpriseRow, ev: Evidence) -> dict[str, Feature]:
    """All features for ``row`` as of ``ctx.as_of``; rows used are added to ``ev``."""
    eid, as_of, cited = row.id, ctx.as_of, ev.max_rows  # read only the rows that are cited
    window = an.Window.last_months(as_of, FEATURE_WINDOW_MONTHS)
    f: dict[str, Feature] = {}

    pb = an.payment_behavior(ctx, eid, window, cited)
    request_ids = ev.financing(pb.early_payment_financing)
    paid_ids = ev.invoices(pb.paid_invoices)
    f["months_with_early_payment_request"] = Feature(
        Decimal(pb.months_with_early_payment_request), request_ids
    )
    f["early_payment_requests"] = Feature(Decimal(pb.early_payment_requests), request_ids)
    f["dso_days"] = Feature(pb.dso_days, paid_ids)

    # Relationships where the enterprise is the supplier or distributor (a core's own terms to
    # its counterparties say nothing about its own financing need).
    own = rw.relationships_as_counterparty(ctx, eid)
    rel_ids = ev.relationships(own)
    terms = [Decimal(r.payment_terms_days) for r in own]
    f["avg_payment_terms_days"] = Feature(
        an.tenth(sum(terms) / len(terms)) if terms else None, rel_ids
    )
    first = min((r.since for r in own), default=None)
    f["relationship_months"] = Feature(
        Decimal(whole_months(first, as_of)) if first else None, rel_ids
    )

    od = an.overdue(ctx, eid, as_of, window, cited)
    core = an.core_receivables(ctx, eid, as_of, cited)
    core_ids = ev.invoices(core.largest)
    eligible_ids = ev.invoices(core.largest_eligible)
    late_ids = ev.invoices(od.invoices)
    f["receivable_outstanding"] = Feature(od.total_outstanding, core_ids + late_ids)
    f["core_receivable_outstanding"] = Feature(core.total, core_ids)
    f["eligible_receivable"] = Feature(core.eligible, eligible_ids)
    f["core_receivable_share"] = Feature(an.share(core.total, od.total_outstanding), core_ids)
    f["overdue_rate"] = Feature(od.overdue_rate, late_ids)

    conc = an.concentration(ctx, eid, window, "sales", cited)
    f["sales_top1_share"] = Feature(conc.top1_share, ev.invoices(conc.largest))

    oo = an.open_orders(ctx, eid, row.role, as_of, cited)
    order_ids = ev.orders(oo.orders)
    f["open_order_amount"] = Feature(oo.open_amount, order_ids)
    f["avg_monthly_inflow"] = Feature(oo.avg_monthly_inflow)
    f["open_order_months"] = Feature(oo.open_order_months, order_ids)
    f["funding_gap"] = Feature(oo.funding_gap, order_ids)
    f["core_order_share"] = Feature(oo.core_order_share, order_ids)

    events = [e for e in rw.risk_events(ctx, eid) if e.status == "open"]
    open_kinds = Counter(e.kind for e in events)
    for kind, key in RISK_EVENT_FEATURES.items():
        of_kind = [e for e in events if e.kind == kind]
        f[key] = Feature(Decimal(open_kinds[kind]), ev.risk_events(of_kind))

    abnormal = an.abnormal_invoices(ctx, eid, window)
    f["abnormal_invoice_count"] = Feature(
        Decimal(len(abnormal.invoices)), ev.invoices(abnormal.invoices)
    )

    overdue_financing = [x for x in rw.financing_history(ctx, eid) if x.status == "overdue"]
    f["overdue_financing_count"] = Feature(
        Decimal(len(overdue_financing)), ev.financing(overdue_financing)
    )
    return f
