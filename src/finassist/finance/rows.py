"""Domain rows: one frozen dataclass per table, and the plain look-ups that return them.

Field names equal the column names, so a ``select(table)`` row maps onto its dataclass directly.
Money fields are ``Decimal`` yuan, rates ``Decimal`` percent (the schema's types convert).
Look-ups do no scope check: tools call :func:`finassist.finance.access.require_visible` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Select, or_, select

from finassist.store import Database, schema

OPEN_STATUSES = ("unpaid", "partial")
ZERO = Decimal("0.00")


T = TypeVar("T")


@dataclass(frozen=True)
class EnterpriseRow:
    """An ``enterprises`` row; ``aliases`` is the stored JSON text."""

    id: str
    name: str
    short_name: str
    aliases: str
    uscc: str
    role: str
    industry: str
    region: str
    rating: str
    registered_capital: Decimal
    established: date


@dataclass(frozen=True)
class RelationshipRow:
    """A ``relationships`` row: the core's payment terms to a supplier or distributor."""

    id: int
    core_id: str
    counterparty_id: str
    kind: str
    payment_terms_days: int
    since: date


@dataclass(frozen=True)
class InvoiceRow:
    """An ``invoices`` row with its total, outstanding balance and days overdue."""

    invoice_no: str
    seller_id: str
    buyer_id: str
    amount: Decimal
    tax: Decimal
    issue_date: date
    due_date: date
    status: str
    paid_date: date | None
    paid_amount: Decimal

    @property
    def total(self) -> Decimal:
        """Amount plus tax: what the buyer owes."""
        return self.amount + self.tax

    @property
    def outstanding(self) -> Decimal:
        """What is still unpaid (0 for paid and void invoices)."""
        return self.total - self.paid_amount if self.status in OPEN_STATUSES else ZERO

    def days_overdue(self, as_of: date) -> int:
        """Days past the due date for an open invoice, else 0."""
        return max((as_of - self.due_date).days, 0) if self.status in OPEN_STATUSES else 0


@dataclass(frozen=True)
class PaymentRow:
    """A ``payments`` row."""

    id: str
    invoice_no: str
    payer_id: str
    payee_id: str
    amount: Decimal
    paid_date: date
    kind: str


@dataclass(frozen=True)
class OrderRow:
    """An ``orders`` row; ``open_amount`` is the part not yet prepaid."""

    order_no: str
    buyer_id: str
    seller_id: str
    amount: Decimal
    order_date: date
    delivery_date: date
    status: str
    prepaid_amount: Decimal

    @property
    def open_amount(self) -> Decimal:
        """Amount minus prepayment: what still has to be funded."""
        return self.amount - self.prepaid_amount


@dataclass(frozen=True)
class FinancingRow:
    """A ``financing`` row (rate in percent)."""

    id: str
    product: str
    applicant_id: str
    core_id: str | None
    bank: str
    amount: Decimal
    rate: Decimal
    start_date: date
    end_date: date
    status: str


@dataclass(frozen=True)
class RiskEventRow:
    """A ``risk_events`` row."""

    id: str
    enterprise_id: str
    kind: str
    title: str
    detail: str
    amount: Decimal | None
    event_date: date
    severity: str
    status: str
    source: str
    invoice_no: str | None


def fetch(db: Database, query: Select, row_type: type[T]) -> list[T]:
    """Run a fixed ``select(table)`` query and map each row onto ``row_type``."""
    with db.read() as conn:
        return [row_type(**row._mapping) for row in conn.execute(query)]


# -- look-ups --------------------------------------------------------------------------------------


def enterprise(db: Database, enterprise_id: str) -> EnterpriseRow | None:
    """The enterprise row (no scope check: callers check scope first)."""
    rows = fetch(
        db,
        select(schema.enterprises).where(schema.enterprises.c.id == enterprise_id),
        EnterpriseRow,
    )
    return rows[0] if rows else None


def enterprise_names(db: Database, ids: set[str]) -> dict[str, str]:
    """id -> name for the given ids (counterparties named in evidence)."""
    if not ids:
        return {}
    e = schema.enterprises
    with db.read() as conn:
        rows = conn.execute(select(e.c.id, e.c.name).where(e.c.id.in_(sorted(ids))))
        return {row.id: row.name for row in rows}


def enterprise_roles(db: Database, ids: set[str]) -> dict[str, str]:
    """id -> role for the given ids."""
    if not ids:
        return {}
    e = schema.enterprises
    with db.read() as conn:
        rows = conn.execute(select(e.c.id, e.c.role).where(e.c.id.in_(sorted(ids))))
        return {row.id: row.role for row in rows}


def relationships(db: Database, enterprise_id: str) -> list[RelationshipRow]:
    """Relationships where the enterprise is the core or the counterparty."""
    r = schema.relationships
    query = select(r).where(or_(r.c.core_id == enterprise_id, r.c.counterparty_id == enterprise_id))
    return fetch(db, query.order_by(r.c.since, r.c.id), RelationshipRow)


def risk_events(db: Database, enterprise_id: str) -> list[RiskEventRow]:
    """All risk events of the enterprise, newest first."""
    ev = schema.risk_events
    query = select(ev).where(ev.c.enterprise_id == enterprise_id)
    return fetch(db, query.order_by(ev.c.event_date.desc(), ev.c.id), RiskEventRow)


def financing_history(db: Database, enterprise_id: str) -> list[FinancingRow]:
    """All financing the enterprise applied for, newest first."""
    f = schema.financing
    query = select(f).where(f.c.applicant_id == enterprise_id)
    return fetch(db, query.order_by(f.c.start_date.desc(), f.c.id), FinancingRow)
