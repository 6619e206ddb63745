"""Cash: payments in and out by month, average monthly inflow, and the open orders to be funded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, and_, func, select, type_coerce

from finassist.finance.analytics.common import (
    FEN_PER_YUAN,
    Window,
    as_int,
    first_rows,
    money,
    month_key,
    share,
    tenth,
    when,
    yuan_sum,
)
from finassist.finance.rows import ZERO, OrderRow, PaymentRow, Reader, fetch, related_cores
from finassist.store import schema

EVIDENCE_LIMIT = 20  # rows kept for evidence (the tools cite at most this many per kind)
INFLOW_WINDOW_MONTHS = 6  # average monthly inflow is taken over the last 6 calendar months
FUNDING_HORIZON_MONTHS = 3  # open orders are compared with 3 months of average inflow
OPEN_ORDER_MONTHS_CAP = Decimal("99.9")  # "months of inflow" when there is no inflow at all
# Which side of an order an enterprise must fund: a supplier produces what it sells, a
# distributor (and a core, when it buys) pays for what it buys.
FUNDING_SIDE = {"supplier": "seller", "distributor": "buyer", "core": "buyer"}


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


_PAYMENT = schema.payments
_AMOUNT_FEN = type_coerce(_PAYMENT.c.amount, BigInteger)  # the stored integer fen, not Decimal yuan
# Per day: total, count and largest payment, in fen (summed into months in Python).
_DAILY = select(
    _PAYMENT.c.paid_date,
    func.sum(_AMOUNT_FEN).label("total"),
    func.count().label("n"),
    func.max(_AMOUNT_FEN).label("largest"),
).group_by(_PAYMENT.c.paid_date)


def cash_flow(
    db: Reader, enterprise_id: str, window: Window, evidence_limit: int = EVIDENCE_LIMIT
) -> CashFlow:
    """Cash flow by month over ``window`` (sums per day in SQL, months bucketed here)."""
    p = _PAYMENT
    fen: dict[str, dict[str, int]] = {"in": defaultdict(int), "out": defaultdict(int)}
    counts = {"in": 0, "out": 0}
    largest: dict[str, PaymentRow] = {}
    for direction, party in (("in", p.c.payee_id), ("out", p.c.payer_id)):
        mine = party == enterprise_id
        with db.read() as conn:
            days = conn.execute(
                _DAILY.where(mine, p.c.paid_date.between(window.start, window.end))
            ).all()
        for day in days:
            fen[direction][month_key(day.paid_date)] += as_int(day.total)
            counts[direction] += as_int(day.n)
        # The largest payments overall are among the largest of each direction.
        for payment in _largest_payments(db, mine, days, evidence_limit):
            largest[payment.id] = payment
    months = [
        MonthFlow(
            key,
            _yuan(fen["in"][key]),
            _yuan(fen["out"][key]),
            _yuan(fen["in"][key] - fen["out"][key]),
        )
        for key in window.month_keys()
    ]
    inflow = money(sum((m.inflow for m in months), ZERO))
    outflow = money(sum((m.outflow for m in months), ZERO))
    return CashFlow(
        window,
        inflow,
        outflow,
        money(inflow - outflow),
        counts["in"],
        counts["out"],
        months,
        sorted(largest.values(), key=lambda r: (-r.amount, r.id))[:evidence_limit],
    )


def _yuan(fen: int) -> Decimal:
    return money(Decimal(fen) / FEN_PER_YUAN)


def _largest_payments(
    db: Reader, mine: ColumnElement[bool], days: Sequence[Row[Any]], limit: int
) -> list[PaymentRow]:
    """The ``limit`` largest of the payments ``mine`` made or received on ``days``.

    The ``limit`` largest daily maxima are ``limit`` different payments, so the ``limit``-th of
    them is a floor for the ``limit`` largest payments, which can only lie on days whose maximum
    reaches it: a few dozen days are sought through the index instead of reading the window.
    """
    p = _PAYMENT
    if limit <= 0 or not days:
        return []
    if len(days) < limit:  # fewer days than payments wanted: read them all
        where = and_(mine, p.c.paid_date.in_([day.paid_date for day in days]))
    else:
        floor = sorted((as_int(day.largest) for day in days), reverse=True)[limit - 1]
        candidates = [day.paid_date for day in days if as_int(day.largest) >= floor]
        where = and_(mine, p.c.paid_date.in_(candidates), p.c.amount >= _yuan(floor))
    query = select(p).where(where).order_by(p.c.amount.desc(), p.c.id).limit(limit)
    return fetch(db, query, PaymentRow)


def monthly_inflow(db: Reader, enterprise_id: str, as_of: date) -> tuple[Window, Decimal]:
    """Average monthly inflow over the last :data:`INFLOW_WINDOW_MONTHS` months (and the window)."""
    window = Window.last_months(as_of, INFLOW_WINDOW_MONTHS)
    p = schema.payments
    query = select(func.sum(p.c.amount)).where(
        p.c.payee_id == enterprise_id, p.c.paid_date.between(window.start, window.end)
    )
    with db.read() as conn:
        total = conn.execute(query).scalar() or ZERO
    return window, money(total / INFLOW_WINDOW_MONTHS)


@dataclass(frozen=True)
class OpenOrders:
    """Open orders the enterprise must fund, against its recent inflow.

    ``open_amount`` = Σ(amount − prepaid_amount) over the ``count`` open orders on the
    enterprise's funding side (:data:`FUNDING_SIDE`). ``funding_gap`` = max(0, open_amount − 3 ×
    avg_monthly_inflow). ``open_order_months`` = open_amount / avg_monthly_inflow (capped at 99.9
    when there is no inflow). ``core_order_amount`` is the part placed with (or by) a core
    enterprise that has a relationship with this one, i.e. orders the core participates in.
    ``orders`` holds the largest open orders (by amount to fund), for evidence.
    """

    side: str
    count: int
    orders: list[OrderRow]
    open_amount: Decimal
    avg_monthly_inflow: Decimal
    inflow_window: Window
    funding_gap: Decimal
    open_order_months: Decimal
    core_order_amount: Decimal
    core_order_share: Decimal


def open_orders(
    db: Reader, enterprise_id: str, role: str, as_of: date, evidence_limit: int = EVIDENCE_LIMIT
) -> OpenOrders:
    """Open orders on the funding side of ``role`` and the funding gap they leave."""
    o = schema.orders
    side = FUNDING_SIDE.get(role, "buyer")
    own, other = (
        (o.c.seller_id, o.c.buyer_id) if side == "seller" else (o.c.buyer_id, o.c.seller_id)
    )
    mine = and_(own == enterprise_id, o.c.status == "open", o.c.order_date <= as_of)
    to_fund = o.c.amount - o.c.prepaid_amount
    cores = sorted(related_cores(db, enterprise_id))
    totals = select(func.count(), yuan_sum(to_fund), yuan_sum(when(other.in_(cores), to_fund)))
    with db.read() as conn:
        count, amount, core_amount = conn.execute(totals.where(mine)).one()
    largest_query = select(o).where(mine).order_by(to_fund.desc(), o.c.order_no)
    largest = first_rows(db, largest_query, OrderRow, to_fund, evidence_limit)
    open_amount, core_amount = money(amount or ZERO), money(core_amount or ZERO)
    inflow_window, avg_inflow = monthly_inflow(db, enterprise_id, as_of)
    if avg_inflow:
        months = min(tenth(open_amount / avg_inflow), OPEN_ORDER_MONTHS_CAP)
    else:
        months = OPEN_ORDER_MONTHS_CAP if open_amount else Decimal("0.0")
    return OpenOrders(
        side,
        as_int(count),
        largest,
        open_amount,
        avg_inflow,
        inflow_window,
        money(max(open_amount - FUNDING_HORIZON_MONTHS * avg_inflow, ZERO)),
        months,
        core_amount,
        share(core_amount, open_amount),
    )
