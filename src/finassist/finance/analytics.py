"""Figures computed from the domain database: cash flow, payment behaviour, overdue, concentration.

Pure functions of ``(db, enterprise id, window or as_of)``; each runs a few fixed parameterised
queries on the read-only connection and returns dataclasses holding ``Decimal`` values plus the
rows they were computed from (the tools turn those into evidence). Aggregation happens in SQL
where row counts grow with scale (sums per counterparty, sums per day); month bucketing is done
in Python so the queries stay portable across SQLite, PostgreSQL and MySQL.

Conventions: money is yuan rounded to 2 places, shares are ratios 0..1 rounded to 4 places,
days are rounded to 1 place. An invoice's *total* is ``amount + tax`` (what the buyer pays);
*outstanding* is ``total - paid_amount``. Void invoices are ignored everywhere. Windows are
inclusive of both ends.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select

from finassist.finance.rows import (
    OPEN_STATUSES,
    ZERO,
    FinancingRow,
    InvoiceRow,
    OrderRow,
    PaymentRow,
    RiskEventRow,
    enterprise_roles,
    fetch,
    relationships,
)
from finassist.store import Database, schema

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
TENTH = Decimal("0.1")
EARLY_TOLERANCE_DAYS = 7  # paid more than this many days before the due date counts as early
ABNORMAL_MULTIPLE = Decimal(10)  # an invoice above 10x the median of the window is abnormal
INFLOW_WINDOW_MONTHS = 6  # average monthly inflow is taken over the last 6 calendar months
FUNDING_HORIZON_MONTHS = 3  # open orders are compared with 3 months of average inflow
OPEN_ORDER_MONTHS_CAP = Decimal("99.9")  # "months of inflow" when there is no inflow at all
# Which side of an order an enterprise must fund: a supplier produces what it sells, a
# distributor (and a core, when it buys) pays for what it buys.
FUNDING_SIDE = {"supplier": "seller", "distributor": "buyer", "core": "buyer"}


def money(value: Decimal) -> Decimal:
    """Yuan, 2 places."""
    return Decimal(value).quantize(CENT)


def share(part: Decimal, whole: Decimal) -> Decimal:
    """``part / whole`` as a ratio rounded to 4 places; 0 when ``whole`` is 0."""
    return (Decimal(part) / Decimal(whole)).quantize(SHARE) if whole else Decimal("0.0000")


def tenth(value: Decimal) -> Decimal:
    """One decimal place (days, months)."""
    return Decimal(value).quantize(TENTH)


@dataclass(frozen=True)
class Window:
    """An inclusive date range.

    >>> Window.last_months(date(2026, 10, 31), 12)
    Window(start=datetime.date(2025, 11, 1), end=datetime.date(2026, 10, 31))
    """

    start: date
    end: date

    @classmethod
    def last_months(cls, as_of: date, months: int) -> Window:
        """The ``months`` calendar months ending with the month of ``as_of`` (up to ``as_of``)."""
        index = as_of.year * 12 + as_of.month - 1 - (months - 1)
        return cls(date(index // 12, index % 12 + 1, 1), as_of)

    @classmethod
    def last_days(cls, as_of: date, days: int) -> Window:
        """The ``days`` days ending with ``as_of``."""
        return cls(as_of - timedelta(days=days - 1), as_of)

    def month_keys(self) -> list[str]:
        """``["2025-11", ..., "2026-10"]``: every calendar month the window touches."""
        keys = []
        year, month = self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys


def month_key(day: date) -> str:
    """``2026-03`` for any day in March 2026."""
    return f"{day.year:04d}-{day.month:02d}"


# -- cash flow -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFlow:
    """Inflow, outflow and net of one calendar month."""

    month: str
    inflow: Decimal
    outflow: Decimal
    net: Decimal


@dataclass(frozen=True)
class CashFlow:
    """Payments received (payee is the enterprise) and made (payer is the enterprise)."""

    window: Window
    inflow: Decimal
    outflow: Decimal
    net: Decimal
    inflow_count: int
    outflow_count: int
    months: list[MonthFlow]
    largest: list[PaymentRow]  # the largest payments in the window, for evidence


def cash_flow(
    db: Database, enterprise_id: str, window: Window, evidence_limit: int = 20
) -> CashFlow:
    """Cash flow by month over ``window`` (sums per day in SQL, months bucketed here)."""
    p = schema.payments
    totals = {"in": defaultdict(lambda: ZERO), "out": defaultdict(lambda: ZERO)}
    counts = {"in": 0, "out": 0}
    in_window = p.c.paid_date.between(window.start, window.end)
    with db.read() as conn:
        for direction, column in (("in", p.c.payee_id), ("out", p.c.payer_id)):
            query = (
                select(p.c.paid_date, func.sum(p.c.amount).label("total"), func.count().label("n"))
                .where(column == enterprise_id, in_window)
                .group_by(p.c.paid_date)
            )
            for row in conn.execute(query):
                totals[direction][month_key(row.paid_date)] += row.total
                counts[direction] += row.n
    months = [
        MonthFlow(
            key,
            money(totals["in"][key]),
            money(totals["out"][key]),
            money(totals["in"][key] - totals["out"][key]),
        )
        for key in window.month_keys()
    ]
    inflow = money(sum((m.inflow for m in months), ZERO))
    outflow = money(sum((m.outflow for m in months), ZERO))
    largest_query = (
        select(p)
        .where(or_(p.c.payee_id == enterprise_id, p.c.payer_id == enterprise_id), in_window)
        .order_by(p.c.amount.desc(), p.c.id)
        .limit(evidence_limit)
    )
    largest = fetch(db, largest_query, PaymentRow)
    return CashFlow(
        window,
        inflow,
        outflow,
        money(inflow - outflow),
        counts["in"],
        counts["out"],
        months,
        largest,
    )


def monthly_inflow(db: Database, enterprise_id: str, as_of: date) -> tuple[Window, Decimal]:
    """Average monthly inflow over the last :data:`INFLOW_WINDOW_MONTHS` months (and the window)."""
    window = Window.last_months(as_of, INFLOW_WINDOW_MONTHS)
    p = schema.payments
    query = select(func.sum(p.c.amount)).where(
        p.c.payee_id == enterprise_id, p.c.paid_date.between(window.start, window.end)
    )
    with db.read() as conn:
        total = conn.execute(query).scalar() or ZERO
    return window, money(total / INFLOW_WINDOW_MONTHS)


# -- invoices: outstanding and overdue -------------------------------------------------------------


def outstanding_invoices(
    db: Database, enterprise_id: str, as_of: date, side: str = "receivable"
) -> list[InvoiceRow]:
    """Unpaid and partly paid invoices issued up to ``as_of``; receivable: the enterprise sells."""
    i = schema.invoices
    party = i.c.seller_id if side == "receivable" else i.c.buyer_id
    query = select(i).where(
        party == enterprise_id, i.c.status.in_(OPEN_STATUSES), i.c.issue_date <= as_of
    )
    return fetch(db, query.order_by(i.c.due_date, i.c.invoice_no), InvoiceRow)


@dataclass(frozen=True)
class Overdue:
    """Overdue receivables. ``overdue_rate`` = overdue outstanding / all outstanding receivable.

    ``overdue_share_of_invoiced`` = overdue outstanding / invoice totals issued in the window, a
    second view for enterprises with few open invoices.
    """

    total_outstanding: Decimal
    outstanding_count: int
    overdue_count: int
    overdue_outstanding: Decimal
    overdue_rate: Decimal
    invoiced_total: Decimal
    overdue_share_of_invoiced: Decimal
    invoices: list[InvoiceRow]  # the overdue ones, most days overdue first


def overdue(db: Database, enterprise_id: str, as_of: date, window: Window) -> Overdue:
    """Receivables past their due date (``due_date < as_of``) as of ``as_of``."""
    open_rows = outstanding_invoices(db, enterprise_id, as_of)
    late = sorted(
        (r for r in open_rows if r.due_date < as_of), key=lambda r: (r.due_date, r.invoice_no)
    )
    total = money(sum((r.outstanding for r in open_rows), ZERO))
    late_total = money(sum((r.outstanding for r in late), ZERO))
    invoiced = invoiced_total(db, enterprise_id, window)
    return Overdue(
        total,
        len(open_rows),
        len(late),
        late_total,
        share(late_total, total),
        invoiced,
        share(late_total, invoiced),
        late,
    )


def invoiced_total(db: Database, enterprise_id: str, window: Window) -> Decimal:
    """Sum of invoice totals (amount + tax) the enterprise issued in the window."""
    i = schema.invoices
    query = select(func.sum(i.c.amount), func.sum(i.c.tax)).where(
        i.c.seller_id == enterprise_id,
        i.c.status != "void",
        i.c.issue_date.between(window.start, window.end),
    )
    with db.read() as conn:
        amount, tax = conn.execute(query).one()
    return money((amount or ZERO) + (tax or ZERO))


@dataclass(frozen=True)
class CounterpartyBalance:
    """Outstanding receivable owed by one buyer, and the overdue part of it."""

    counterparty_id: str
    outstanding: Decimal
    overdue: Decimal
    count: int


def receivables_by_counterparty(
    db: Database, enterprise_id: str, as_of: date
) -> list[CounterpartyBalance]:
    """Outstanding receivables grouped by buyer, largest first."""
    grouped: dict[str, list[InvoiceRow]] = defaultdict(list)
    for row in outstanding_invoices(db, enterprise_id, as_of):
        grouped[row.buyer_id].append(row)
    balances = [
        CounterpartyBalance(
            buyer,
            money(sum((r.outstanding for r in rows), ZERO)),
            money(sum((r.outstanding for r in rows if r.due_date < as_of), ZERO)),
            len(rows),
        )
        for buyer, rows in grouped.items()
    ]
    return sorted(balances, key=lambda b: (-b.outstanding, b.counterparty_id))


# -- payment behaviour -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentBehavior:
    """How the enterprise's buyers pay it, and how often it asks for early payment.

    ``dso_days``: average days from issue to payment over invoices paid in the window, weighted
    by invoice total (None when none was paid). Early: paid more than
    :data:`EARLY_TOLERANCE_DAYS` days before the due date; on time: within those days or on the
    due date; late: after it. ``avg_days_late`` is the plain mean over late invoices (0 if none).
    Early-payment requests are ``financing`` rows of product ``early_payment`` started in the
    window, any status.
    """

    window: Window
    dso_days: Decimal | None
    paid_count: int
    paid_early: int
    paid_on_time: int
    paid_late: int
    avg_days_late: Decimal
    early_payment_requests: int
    months_with_early_payment_request: int
    paid_invoices: list[InvoiceRow]
    early_payment_financing: list[FinancingRow]


def payment_behavior(db: Database, enterprise_id: str, window: Window) -> PaymentBehavior:
    """Payment behaviour as a seller over ``window``."""
    i, f = schema.invoices, schema.financing
    paid_query = select(i).where(
        i.c.seller_id == enterprise_id,
        i.c.status == "paid",
        i.c.paid_date.between(window.start, window.end),
    )
    paid = fetch(db, paid_query.order_by(i.c.paid_date, i.c.invoice_no), InvoiceRow)
    weight = sum((r.total for r in paid), ZERO)
    weighted_days = sum(
        (r.total * (r.paid_date - r.issue_date).days for r in paid if r.paid_date), ZERO
    )
    dso = tenth(weighted_days / weight) if weight else None
    delays = [(r.paid_date - r.due_date).days for r in paid if r.paid_date]
    late = [d for d in delays if d > 0]
    early = sum(1 for d in delays if d < -EARLY_TOLERANCE_DAYS)
    requests_query = select(f).where(
        f.c.applicant_id == enterprise_id,
        f.c.product == "early_payment",
        f.c.start_date.between(window.start, window.end),
    )
    requests = fetch(db, requests_query.order_by(f.c.start_date, f.c.id), FinancingRow)
    return PaymentBehavior(
        window=window,
        dso_days=dso,
        paid_count=len(paid),
        paid_early=early,
        paid_on_time=len(delays) - early - len(late),
        paid_late=len(late),
        avg_days_late=tenth(Decimal(sum(late)) / len(late)) if late else Decimal("0.0"),
        early_payment_requests=len(requests),
        months_with_early_payment_request=len({month_key(r.start_date) for r in requests}),
        paid_invoices=paid,
        early_payment_financing=requests,
    )


# -- concentration and abnormal invoices ---------------------------------------------------------


@dataclass(frozen=True)
class CounterpartyShare:
    """One counterparty's part of the enterprise's invoiced amount."""

    counterparty_id: str
    amount: Decimal
    share: Decimal
    invoice_count: int


@dataclass(frozen=True)
class Concentration:
    """Shares of invoiced amount (excluding tax) by counterparty.

    ``hhi`` is the Herfindahl index as a 0..1 fraction (sum of squared unrounded shares; multiply
    by 10,000 for the usual points). ``top5_share`` is computed from amounts, not from rounded
    shares.
    """

    window: Window
    side: str
    total: Decimal
    counterparties: list[CounterpartyShare]  # all, largest first
    top1_share: Decimal
    top5_share: Decimal
    hhi: Decimal
    largest: list[InvoiceRow]  # the largest invoices in the window, for evidence


def concentration(
    db: Database, enterprise_id: str, window: Window, side: str = "sales", evidence_limit: int = 20
) -> Concentration:
    """Sales side: who buys from the enterprise; purchases side: whom it buys from."""
    i = schema.invoices
    own, other = (i.c.seller_id, i.c.buyer_id) if side == "sales" else (i.c.buyer_id, i.c.seller_id)
    in_window = and_(
        own == enterprise_id, i.c.status != "void", i.c.issue_date.between(window.start, window.end)
    )
    query = (
        select(other.label("cp"), func.sum(i.c.amount).label("amount"), func.count().label("n"))
        .where(in_window)
        .group_by(other)
    )
    with db.read() as conn:
        rows = sorted(conn.execute(query).all(), key=lambda r: (-r.amount, r.cp))
    largest_query = select(i).where(in_window).order_by(i.c.amount.desc(), i.c.invoice_no)
    largest = fetch(db, largest_query.limit(evidence_limit), InvoiceRow)
    total = money(sum((r.amount for r in rows), ZERO))
    parties = [CounterpartyShare(r.cp, money(r.amount), share(r.amount, total), r.n) for r in rows]
    hhi = sum(((r.amount / total) ** 2 for r in rows), Decimal(0)) if total else Decimal(0)
    return Concentration(
        window,
        side,
        total,
        parties,
        share(rows[0].amount, total) if rows else Decimal("0.0000"),
        share(sum((r.amount for r in rows[:5]), ZERO), total),
        Decimal(hhi).quantize(SHARE),
        largest,
    )


@dataclass(frozen=True)
class AbnormalInvoices:
    """Invoices (as seller) above :data:`ABNORMAL_MULTIPLE` x the median amount of the window."""

    window: Window
    considered: int
    median_amount: Decimal
    threshold: Decimal
    invoices: list[InvoiceRow]


def abnormal_invoices(db: Database, enterprise_id: str, window: Window) -> AbnormalInvoices:
    """Unusually large invoices, by amount excluding tax."""
    i = schema.invoices
    base = and_(
        i.c.seller_id == enterprise_id,
        i.c.status != "void",
        i.c.issue_date.between(window.start, window.end),
    )
    with db.read() as conn:
        amounts = sorted(row[0] for row in conn.execute(select(i.c.amount).where(base)))
    if not amounts:
        return AbnormalInvoices(window, 0, ZERO, ZERO, [])
    middle = len(amounts) // 2
    median = amounts[middle] if len(amounts) % 2 else (amounts[middle - 1] + amounts[middle]) / 2
    threshold = money(median * ABNORMAL_MULTIPLE)
    query = (
        select(i).where(base, i.c.amount > threshold).order_by(i.c.amount.desc(), i.c.invoice_no)
    )
    return AbnormalInvoices(
        window, len(amounts), money(median), threshold, fetch(db, query, InvoiceRow)
    )


# -- open orders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenOrders:
    """Open orders the enterprise must fund, against its recent inflow.

    ``open_amount`` = Σ(amount − prepaid_amount) over open orders on the enterprise's funding side
    (:data:`FUNDING_SIDE`). ``funding_gap`` = max(0, open_amount − 3 × avg_monthly_inflow).
    ``open_order_months`` = open_amount / avg_monthly_inflow (capped at 99.9 when there is no
    inflow). ``core_order_amount`` is the part placed with (or by) a core enterprise that has a
    relationship with this one, i.e. orders the core participates in.
    """

    side: str
    orders: list[OrderRow]
    open_amount: Decimal
    avg_monthly_inflow: Decimal
    inflow_window: Window
    funding_gap: Decimal
    open_order_months: Decimal
    core_order_amount: Decimal
    core_order_share: Decimal


def open_orders(db: Database, enterprise_id: str, role: str, as_of: date) -> OpenOrders:
    """Open orders on the funding side of ``role`` and the funding gap they leave."""
    o = schema.orders
    side = FUNDING_SIDE.get(role, "buyer")
    own = o.c.seller_id if side == "seller" else o.c.buyer_id
    query = select(o).where(own == enterprise_id, o.c.status == "open", o.c.order_date <= as_of)
    rows = fetch(db, query.order_by(o.c.delivery_date, o.c.order_no), OrderRow)
    open_amount = money(sum((r.open_amount for r in rows), ZERO))
    inflow_window, avg_inflow = monthly_inflow(db, enterprise_id, as_of)
    if avg_inflow:
        months = min(tenth(open_amount / avg_inflow), OPEN_ORDER_MONTHS_CAP)
    else:
        months = OPEN_ORDER_MONTHS_CAP if open_amount else Decimal("0.0")
    cores = {
        r.core_id if r.counterparty_id == enterprise_id else r.counterparty_id
        for r in relationships(db, enterprise_id)
    }
    cores = {c for c, role_ in enterprise_roles(db, cores).items() if role_ == "core"}
    other_key = "buyer_id" if side == "seller" else "seller_id"
    core_amount = money(sum((r.open_amount for r in rows if getattr(r, other_key) in cores), ZERO))
    return OpenOrders(
        side,
        rows,
        open_amount,
        avg_inflow,
        inflow_window,
        money(max(open_amount - FUNDING_HORIZON_MONTHS * avg_inflow, ZERO)),
        months,
        core_amount,
        share(core_amount, open_amount),
    )


# -- risk signals ----------------------------------------------------------------------------------


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
