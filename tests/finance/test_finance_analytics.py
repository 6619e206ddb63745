"""Analytics figures against hand-computed values and independent SQL (amounts stored in fen)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import or_, select, text

from finassist.finance import analytics as an
from finassist.finance.base import ToolContext
from finassist.finance.rows import PaymentRow, fetch
from finassist.store import Database, schema

D = Decimal
AS_OF = date(2026, 10, 31)  # the fixture's "today"
YEAR = an.Window.last_months(AS_OF, 12)


def inv(n: int) -> str:
    """Fixture invoice numbers (see conftest.inv)."""
    return f"26312000000000{n:06d}"


@pytest.fixture(scope="module")
def db(make_ctx: Callable[..., ToolContext]) -> Database:
    return make_ctx().db


def fen_sum(db: Database, query: str, **params: object) -> Decimal:
    """An independent check: raw SQL summing integer fen, converted to yuan here."""
    with db.read() as conn:
        value = conn.execute(text(query), params).scalar()
    return (D(int(value or 0)) / 100).quantize(D("0.01"))


def test_windows_are_calendar_months_or_days() -> None:
    assert (YEAR.start, YEAR.end) == (date(2025, 11, 1), AS_OF)
    assert an.Window.last_months(date(2026, 1, 15), 2) == an.Window(
        date(2025, 12, 1), date(2026, 1, 15)
    )
    assert an.Window.last_days(AS_OF, 30) == an.Window(date(2026, 10, 2), AS_OF)
    assert YEAR.month_keys()[0] == "2025-11" and YEAR.month_keys()[-1] == "2026-10"
    assert len(YEAR.month_keys()) == 12


def test_cash_flow_by_month(db: Database) -> None:
    flow = an.cash_flow(db, "S1", YEAR)
    assert (flow.inflow, flow.outflow, flow.net) == (D("495500.00"), D("22600.00"), D("472900.00"))
    assert (flow.inflow_count, flow.outflow_count) == (4, 1)
    by_month = {m.month: (m.inflow, m.outflow) for m in flow.months}
    assert by_month["2026-02"] == (D("113000.00"), D("0.00"))
    assert by_month["2026-03"] == (D("0.00"), D("22600.00"))
    assert by_month["2026-10"] == (D("100000.00"), D("0.00"))
    assert sum(m.inflow for m in flow.months) == flow.inflow
    window = (YEAR.start, YEAR.end)
    assert flow.inflow == fen_sum(
        db,
        "SELECT SUM(amount) FROM payments WHERE payee_id = :e AND paid_date BETWEEN :s AND :t",
        e="S1",
        s=window[0],
        t=window[1],
    )
    # The 2024 payment P5 is outside the window.
    assert "P5" not in {p.id for p in flow.largest}


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 20])
def test_cash_flow_cites_the_largest_payments_in_and_out(db: Database, limit: int) -> None:
    p = schema.payments
    query = (
        select(p)
        .where(
            or_(p.c.payee_id == "S1", p.c.payer_id == "S1"),
            p.c.paid_date.between(YEAR.start, YEAR.end),
        )
        .order_by(p.c.amount.desc(), p.c.id)
    )
    flow = an.cash_flow(db, "S1", YEAR, evidence_limit=limit)
    assert flow.largest == fetch(db, query.limit(limit), PaymentRow)
    days = an.cash_flow(db, "S1", an.Window.last_days(AS_OF, 200), evidence_limit=limit)
    assert [r.id for r in days.largest] == ["P2", "P4", "P3"][:limit]  # from 2026-04-15


def test_payment_behavior_dso_is_amount_weighted(db: Database) -> None:
    pb = an.payment_behavior(db, "S1", YEAR)
    # (113,000 x 30 + 226,000 x 90 + 56,500 x 100) / 395,500 = 74.29 days
    assert pb.dso_days == D("74.3")
    assert (pb.paid_count, pb.paid_early, pb.paid_on_time, pb.paid_late) == (3, 1, 1, 1)
    assert pb.avg_days_late == D("10.0")
    # F1..F7 are in the window (F4 rejected still counts as a request); F8 is before it.
    assert pb.early_payment_requests == 7
    assert pb.months_with_early_payment_request == 6
    assert pb.dso_days is not None
    # Evidence: the most recently paid first (paid 2026-07-10, 2026-05-30, 2026-02-09).
    assert [r.invoice_no for r in pb.paid_invoices] == [inv(3), inv(2), inv(1)]
    recent = an.payment_behavior(db, "S1", YEAR, limit=2)
    assert [r.invoice_no for r in recent.paid_invoices] == [inv(3), inv(2)]
    assert (recent.paid_count, recent.dso_days) == (3, D("74.3"))


def test_payment_behavior_without_paid_invoices_has_no_dso(db: Database) -> None:
    pb = an.payment_behavior(db, "S2", YEAR)
    assert (pb.dso_days, pb.paid_count, pb.avg_days_late) == (None, 0, D("0.0"))


def test_overdue_rate_is_overdue_over_all_outstanding(db: Database) -> None:
    od = an.overdue(db, "S1", AS_OF, YEAR)
    assert od.total_outstanding == D("691000.00")  # 339,000 + (452,000 - 100,000)
    assert (od.overdue_count, od.overdue_outstanding) == (1, D("339000.00"))
    assert od.overdue_rate == D("0.4906")  # 339,000 / 691,000
    assert od.invoiced_total == D("1186500.00")  # the void invoice 7 is ignored
    assert od.overdue_share_of_invoiced == D("0.2857")
    assert [r.invoice_no for r in od.invoices] == [inv(4)]
    independent = fen_sum(
        db,
        "SELECT SUM(amount + tax - paid_amount) FROM invoices WHERE seller_id = :e "
        "AND status IN ('unpaid', 'partial') AND due_date < :d",
        e="S1",
        d=AS_OF,
    )
    assert od.overdue_outstanding == independent


def test_outstanding_counts_every_open_invoice_and_lists_the_first(db: Database) -> None:
    out = an.outstanding(db, "S1", AS_OF, limit=1)
    assert (out.count, out.total) == (2, D("691000.00"))
    assert (out.overdue_count, out.overdue_total) == (1, D("339000.00"))
    assert [r.invoice_no for r in out.invoices] == [inv(4)]  # the overdue one first
    assert [r.invoice_no for r in an.outstanding(db, "S1", AS_OF).invoices] == [inv(4), inv(5)]
    payable = an.outstanding(db, "S1", AS_OF, "payable")
    assert (payable.count, payable.total, payable.overdue_count) == (1, D("33900.00"), 1)
    # Invoices issued after the date do not count yet.
    early = an.outstanding(db, "S1", date(2026, 8, 31))
    assert (early.count, [r.invoice_no for r in early.invoices]) == (1, [inv(4)])


def test_core_receivables_and_the_part_not_yet_due(db: Database) -> None:
    core = an.core_receivables(db, "S1", AS_OF)
    assert (core.total, core.eligible) == (D("691000.00"), D("352000.00"))
    assert [r.invoice_no for r in core.largest] == [inv(5), inv(4)]  # most outstanding first
    assert [r.invoice_no for r in core.largest_eligible] == [inv(5)]
    assert an.core_receivables(db, "S1", AS_OF, limit=1).largest == core.largest[:1]
    # D1 sells to D2, a distributor: nothing is owed by a core.
    assert an.core_receivables(db, "D1", AS_OF) == an.CoreReceivables(D(0), D(0), [], [])


def test_receivables_by_counterparty(db: Database) -> None:
    balances = an.receivables_by_counterparty(db, "S1", AS_OF)
    assert [(b.counterparty_id, b.outstanding, b.overdue, b.count) for b in balances] == [
        ("C2", D("352000.00"), D("0.00"), 1),
        ("C1", D("339000.00"), D("339000.00"), 1),
    ]


def test_sales_concentration_shares_and_hhi(db: Database) -> None:
    conc = an.concentration(db, "S1", YEAR, "sales")
    assert conc.total == D("1050000.00")
    assert [(c.counterparty_id, c.amount, c.share) for c in conc.counterparties] == [
        ("C1", D("600000.00"), D("0.5714")),
        ("C2", D("450000.00"), D("0.4286")),
    ]
    assert (conc.top1_share, conc.top5_share, conc.hhi) == (D("0.5714"), D("1.0000"), D("0.5102"))
    independent = fen_sum(
        db,
        "SELECT SUM(amount) FROM invoices WHERE seller_id = :e AND buyer_id = :b "
        "AND status <> 'void' AND issue_date BETWEEN :s AND :t",
        e="S1",
        b="C1",
        s=YEAR.start,
        t=YEAR.end,
    )
    assert conc.counterparties[0].amount == independent


def test_purchase_concentration(db: Database) -> None:
    conc = an.concentration(db, "S1", YEAR, "purchases")
    assert (conc.total, conc.top1_share, conc.hhi) == (D("50000.00"), D("1.0000"), D("1.0000"))


def test_empty_concentration_is_zero(db: Database) -> None:
    conc = an.concentration(db, "D2", YEAR, "sales")
    assert (conc.total, conc.top1_share, conc.top5_share, conc.hhi) == (D(0), D(0), D(0), D(0))


def test_abnormal_invoices_exceed_ten_times_the_median(db: Database) -> None:
    ab = an.abnormal_invoices(db, "S3", YEAR)
    # amounts 9k, 10k, 11k, 12k, 500k: median 11,000, threshold 110,000
    assert (ab.considered, ab.median_amount, ab.threshold) == (5, D("11000.00"), D("110000.00"))
    assert [r.invoice_no for r in ab.invoices] == [inv(16)]
    assert an.abnormal_invoices(db, "S1", YEAR).invoices == []


def test_open_orders_and_funding_gap(db: Database) -> None:
    oo = an.open_orders(db, "D1", "distributor", AS_OF)
    assert oo.side == "buyer" and [o.order_no for o in oo.orders] == ["O1"] and oo.count == 1
    assert oo.open_amount == D("8000000.00")
    assert oo.avg_monthly_inflow == D("18833.33")  # 113,000 / 6
    assert oo.funding_gap == D("7943500.01")  # 8,000,000 - 3 x 18,833.33
    assert oo.open_order_months == D("99.9")  # capped
    assert (oo.core_order_amount, oo.core_order_share) == (D("8000000.00"), D("1.0000"))
    # D2 ordered from C2, a core it has no relationship with: the core does not take part.
    d2 = an.open_orders(db, "D2", "distributor", AS_OF)
    assert (d2.open_amount, d2.core_order_share) == (D("1800000.00"), D("0.0000"))
    # A supplier funds what it sells: O4 (C1 buys from S1).
    s1 = an.open_orders(db, "S1", "supplier", AS_OF)
    assert s1.side == "seller" and [o.order_no for o in s1.orders] == ["O4"]
    assert s1.avg_monthly_inflow == D("63750.00")  # (226,000 + 56,500 + 100,000) / 6
    assert s1.open_order_months == D("4.7")
