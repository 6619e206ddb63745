"""Invoices not yet paid (outstanding, overdue, owed by cores) and how buyers pay (DSO, punctuality).

Counts and sums are aggregated in SQL; only the rows cited as evidence (the first
``evidence_limit`` by a stated order) are read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, select

from finassist.finance.analytics.common import (
    Window,
    as_int,
    count_if,
    days_between,
    fen_sum,
    first_rows,
    money,
    month_key,
    share,
    tenth,
    unindexed,
    when,
    yuan_sum,
)
from finassist.finance.rows import (
    OPEN_STATUSES,
    ZERO,
    FinancingRow,
    InvoiceRow,
    Reader,
    fetch,
)
from finassist.store import schema

EVIDENCE_LIMIT = 20  # rows kept for evidence (the tools cite at most this many per kind)
EARLY_TOLERANCE_DAYS = 7  # paid more than this many days before the due date counts as early

_INVOICE = schema.invoices
# What is still owed on an open invoice: total (amount + tax) minus what was paid.
_OWED = _INVOICE.c.amount + _INVOICE.c.tax - _INVOICE.c.paid_amount


def _open(enterprise_id: str, as_of: date, side: str) -> ColumnElement[bool]:
    """Open invoices issued up to ``as_of``; receivable: the enterprise sells, payable: it buys."""
    i = _INVOICE
    party = i.c.seller_id if side == "receivable" else i.c.buyer_id
    # Few invoices are open: the (party, status, ...) index finds them; the date only trims.
    issued = unindexed(i.c.issue_date) <= as_of
    return and_(party == enterprise_id, i.c.status.in_(OPEN_STATUSES), issued)


def _by_due_date(where: ColumnElement[bool], db: Reader, limit: int) -> list[InvoiceRow]:
    """The first ``limit`` invoices by due date (most days overdue first), then number."""
    i = _INVOICE
    query = select(i).where(where).order_by(i.c.due_date, i.c.invoice_no)
    return first_rows(db, query, InvoiceRow, i.c.due_date, limit, descending=False)


@dataclass(frozen=True)
class Outstanding:
    """Unpaid and partly paid invoices as of a date: counts, balances, and the first of them.

    Overdue: ``due_date < as_of``. ``invoices`` are the first ``limit`` by due date, so the
    overdue ones (most days overdue first) come before the rest.
    """

    side: str
    count: int
    total: Decimal
    overdue_count: int
    overdue_total: Decimal
    invoices: list[InvoiceRow]


def outstanding(
    db: Reader,
    enterprise_id: str,
    as_of: date,
    side: str = "receivable",
    limit: int = EVIDENCE_LIMIT,
) -> Outstanding:
    """Open receivables (the enterprise sells) or payables (it buys) issued up to ``as_of``."""
    late = _INVOICE.c.due_date < as_of
    where = _open(enterprise_id, as_of, side)
    query = select(func.count(), yuan_sum(_OWED), count_if(late), yuan_sum(when(late, _OWED)))
    with db.read() as conn:
        count, total, late_count, late_total = conn.execute(query.where(where)).one()
    return Outstanding(
        side,
        as_int(count),
        money(total or ZERO),
        as_int(late_count),
        money(late_total or ZERO),
        _by_due_date(where, db, limit),
    )


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
    invoices: list[InvoiceRow]  # the first overdue ones, most days overdue first, for evidence


def overdue(
    db: Reader, enterprise_id: str, as_of: date, window: Window, limit: int = EVIDENCE_LIMIT
) -> Overdue:
    """Receivables past their due date (``due_date < as_of``) as of ``as_of``."""
    out = outstanding(db, enterprise_id, as_of, limit=0)
    late = _by_due_date(
        and_(_open(enterprise_id, as_of, "receivable"), _INVOICE.c.due_date < as_of), db, limit
    )
    invoiced = invoiced_total(db, enterprise_id, window)
    return Overdue(
        out.total,
        out.count,
        out.overdue_count,
        out.overdue_total,
        share(out.overdue_total, out.total),
        invoiced,
        share(out.overdue_total, invoiced),
        late,
    )


def invoiced_total(db: Reader, enterprise_id: str, window: Window) -> Decimal:
    """Sum of invoice totals (amount + tax) the enterprise issued in the window."""
    i = _INVOICE
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
    db: Reader, enterprise_id: str, as_of: date
) -> list[CounterpartyBalance]:
    """Outstanding receivables grouped by buyer, largest first."""
    i = _INVOICE
    query = (
        select(
            i.c.buyer_id,
            yuan_sum(_OWED),
            yuan_sum(when(i.c.due_date < as_of, _OWED)),
            func.count(),
        )
        .where(_open(enterprise_id, as_of, "receivable"))
        .group_by(i.c.buyer_id)
    )
    with db.read() as conn:
        rows = conn.execute(query).all()
    balances = [CounterpartyBalance(b, money(t), money(o), as_int(n)) for b, t, o, n in rows]
    return sorted(balances, key=lambda b: (-b.outstanding, b.counterparty_id))


@dataclass(frozen=True)
class CoreReceivables:
    """Open receivables owed by core enterprises, and the part not yet due (fundable).

    ``largest`` and ``largest_eligible`` are the invoices with the most outstanding, for evidence.
    """

    total: Decimal
    eligible: Decimal
    largest: list[InvoiceRow]
    largest_eligible: list[InvoiceRow]


def core_receivables(
    db: Reader, enterprise_id: str, as_of: date, limit: int = EVIDENCE_LIMIT
) -> CoreReceivables:
    """Open receivables whose buyer is a core enterprise; eligible: ``due_date >= as_of``."""
    i, e = _INVOICE, schema.enterprises
    cores = select(e.c.id).where(e.c.role == "core")
    owed_by_core = and_(_open(enterprise_id, as_of, "receivable"), i.c.buyer_id.in_(cores))
    not_due = i.c.due_date >= as_of
    with db.read() as conn:
        query = select(yuan_sum(_OWED), yuan_sum(when(not_due, _OWED))).where(owed_by_core)
        total, eligible = conn.execute(query).one()

    def largest(where: ColumnElement[bool]) -> list[InvoiceRow]:
        query = select(i).where(where).order_by(_OWED.desc(), i.c.invoice_no)
        return first_rows(db, query, InvoiceRow, _OWED, limit)

    return CoreReceivables(
        money(total or ZERO),
        money(eligible or ZERO),
        largest(owed_by_core),
        largest(and_(owed_by_core, not_due)),
    )


# -- payment behaviour -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentBehavior:
    """How the enterprise's buyers pay it, and how often it asks for early payment.

    ``dso_days``: average days from issue to payment over invoices paid in the window, weighted
    by invoice total (None when none was paid). Early: paid more than
    :data:`EARLY_TOLERANCE_DAYS` days before the due date; on time: within those days or on the
    due date; late: after it. ``avg_days_late`` is the plain mean over late invoices (0 if none).
    Early-payment requests are ``financing`` rows of product ``early_payment`` started in the
    window, any status. ``paid_invoices`` are the most recently paid ones (latest first), for
    evidence.
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


def payment_behavior(
    db: Reader, enterprise_id: str, window: Window, limit: int = EVIDENCE_LIMIT
) -> PaymentBehavior:
    """Payment behaviour as a seller over ``window``."""
    i, f = _INVOICE, schema.financing
    paid = and_(
        i.c.seller_id == enterprise_id,
        i.c.status == "paid",
        i.c.paid_date.between(window.start, window.end),
    )
    total = i.c.amount + i.c.tax
    taken = days_between(i.c.issue_date, i.c.paid_date)
    delay = days_between(i.c.due_date, i.c.paid_date)
    late = i.c.paid_date > i.c.due_date  # same as delay > 0; comparing dates is cheaper
    figures = select(
        func.count(),
        fen_sum(total),
        fen_sum(total * taken),
        count_if(delay < -EARLY_TOLERANCE_DAYS),
        count_if(late),
        func.sum(when(late, delay)),
    ).where(paid)
    with db.read() as conn:
        count, weight, weighted_days, early, late_count, late_days = conn.execute(figures).one()
    count, early, late_count = as_int(count), as_int(early), as_int(late_count)
    # Both sums are in fen, so their ratio is the same as in yuan.
    dso = tenth(Decimal(as_int(weighted_days)) / as_int(weight)) if as_int(weight) else None
    recent_query = select(i).where(paid).order_by(i.c.paid_date.desc(), i.c.invoice_no.desc())
    recent = first_rows(db, recent_query, InvoiceRow, i.c.paid_date, limit)
    requests_query = select(f).where(
        f.c.applicant_id == enterprise_id,
        f.c.product == "early_payment",
        f.c.start_date.between(window.start, window.end),
    )
    requests = fetch(db, requests_query.order_by(f.c.start_date, f.c.id), FinancingRow)
    return PaymentBehavior(
        window=window,
        dso_days=dso,
        paid_count=count,
        paid_early=early,
        paid_on_time=count - early - late_count,
        paid_late=late_count,
        avg_days_late=(
            tenth(Decimal(as_int(late_days)) / late_count) if late_count else Decimal("0.0")
        ),
        early_payment_requests=len(requests),
        months_with_early_payment_request=len({month_key(r.start_date) for r in requests}),
        paid_invoices=recent,
        early_payment_financing=requests,
    )
