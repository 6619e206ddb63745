"""Whom the enterprise trades with: concentration by counterparty, and abnormally large invoices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, func, select

from finassist.finance.analytics.common import (
    SHARE,
    Window,
    as_int,
    first_rows,
    money,
    share,
)
from finassist.finance.rows import ZERO, InvoiceRow, Reader, fetch
from finassist.store import schema

EVIDENCE_LIMIT = 20  # rows kept for evidence (the tools cite at most this many per kind)
ABNORMAL_MULTIPLE = Decimal(10)  # an invoice above 10x the median of the window is abnormal


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
    db: Reader,
    enterprise_id: str,
    window: Window,
    side: str = "sales",
    evidence_limit: int = EVIDENCE_LIMIT,
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
    largest = first_rows(db, largest_query, InvoiceRow, i.c.amount, evidence_limit)
    total = money(sum((r.amount for r in rows), ZERO))
    parties = [
        CounterpartyShare(r.cp, money(r.amount), share(r.amount, total), as_int(r.n)) for r in rows
    ]
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


def abnormal_invoices(db: Reader, enterprise_id: str, window: Window) -> AbnormalInvoices:
    """Unusually large invoices (as seller), by amount excluding tax; the median is read in SQL."""
    i = schema.invoices
    base = and_(
        i.c.seller_id == enterprise_id,
        i.c.status != "void",
        i.c.issue_date.between(window.start, window.end),
    )
    with db.read() as conn:
        considered = as_int(conn.execute(select(func.count()).where(base)).scalar())
        if not considered:
            return AbnormalInvoices(window, 0, ZERO, ZERO, [])
        # The middle amount (odd count) or the two middle ones (even count), in amount order.
        odd = considered % 2 == 1
        middle_query = select(i.c.amount).where(base).order_by(i.c.amount)
        middle_query = middle_query.limit(1 if odd else 2).offset((considered - 1) // 2)
        middle = conn.execute(middle_query).scalars().all()
    median = middle[0] if odd else (middle[0] + middle[1]) / 2
    threshold = money(median * ABNORMAL_MULTIPLE)
    query = (
        select(i).where(base, i.c.amount > threshold).order_by(i.c.amount.desc(), i.c.invoice_no)
    )
    return AbnormalInvoices(
        window, considered, money(median), threshold, fetch(db, query, InvoiceRow)
    )
