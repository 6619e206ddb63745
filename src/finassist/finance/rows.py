"""Domain rows: one frozen dataclass per table, and the plain look-ups that return them.

Field names equal the column names, in table order, so a ``select(table)`` row maps onto its
dataclass directly. Money fields are ``Decimal`` yuan, rates ``Decimal`` percent (the schema's
types convert). Look-ups do no scope check: tools call
:func:`finassist.finance.access.require_visible` first.

Every look-up takes a :class:`Reader`: a :class:`~finassist.store.Database` (one connection per
query) or a tool run's :class:`~finassist.finance.base.ToolContext` (one connection per run).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, case, or_, select

from finassist.store import schema

OPEN_STATUSES = ("unpaid", "partial")
ZERO = Decimal("0.00")


T = TypeVar("T")


class Reader(Protocol):
    """Hands out a read-only connection: a ``Database``, or a ``ToolContext`` during a tool run."""

    def read(self) -> AbstractContextManager[Connection]:
        """A read-only connection for fixed, parameterised queries."""
        ...


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


def fetch(db: Reader, query: Select, row_type: type[T]) -> list[T]:
    """Run a fixed ``select(table)`` query and map each row onto ``row_type``."""
    names = [f.name for f in fields(row_type)]  # type: ignore[arg-type]
    with db.read() as conn:
        result = conn.execute(query)
        if list(result.keys()) != names:
            raise TypeError(f"columns {list(result.keys())} do not match {row_type.__name__}")
        # Positional construction: the columns are the fields, in order (checked above).
        return [row_type(*row) for row in result]


# -- look-ups --------------------------------------------------------------------------------------


def enterprise(db: Reader, enterprise_id: str) -> EnterpriseRow | None:
    """The enterprise row (no scope check: callers check scope first)."""
    rows = fetch(
        db,
        select(schema.enterprises).where(schema.enterprises.c.id == enterprise_id),
        EnterpriseRow,
    )
    return rows[0] if rows else None


def enterprise_names(db: Reader, ids: set[str]) -> dict[str, str]:
    """id -> name for the given ids (counterparties named in evidence)."""
    if not ids:
        return {}
    e = schema.enterprises
    with db.read() as conn:
        rows = conn.execute(select(e.c.id, e.c.name).where(e.c.id.in_(sorted(ids))))
        return {row.id: row.name for row in rows}


def relationships(db: Reader, enterprise_id: str) -> list[RelationshipRow]:
    """Relationships where the enterprise is the core or the counterparty."""
    r = schema.relationships
    query = select(r).where(_involving(enterprise_id))
    return fetch(db, query.order_by(r.c.since, r.c.id), RelationshipRow)


def relationships_as_counterparty(db: Reader, enterprise_id: str) -> list[RelationshipRow]:
    """Relationships where the enterprise is the supplier or distributor of a core."""
    r = schema.relationships
    query = select(r).where(r.c.counterparty_id == enterprise_id)
    return fetch(db, query.order_by(r.c.since, r.c.id), RelationshipRow)


def _other_party(enterprise_id: str) -> ColumnElement[str]:
    """The relationship's party that is not ``enterprise_id``."""
    r = schema.relationships
    return case((r.c.core_id == enterprise_id, r.c.counterparty_id), else_=r.c.core_id)


def _involving(enterprise_id: str) -> ColumnElement[bool]:
    r = schema.relationships
    return or_(r.c.core_id == enterprise_id, r.c.counterparty_id == enterprise_id)


def partners(db: Reader, enterprise_id: str) -> list[tuple[RelationshipRow, str | None]]:
    """:func:`relationships` of the enterprise, each with the other party's name (one query)."""
    r, e = schema.relationships, schema.enterprises
    query = (
        select(r, e.c.name)
        .outerjoin(e, e.c.id == _other_party(enterprise_id))
        .where(_involving(enterprise_id))
        .order_by(r.c.since, r.c.id)
    )
    with db.read() as conn:
        return [(RelationshipRow(*row[:-1]), row[-1]) for row in conn.execute(query)]


def related_cores(db: Reader, enterprise_id: str) -> set[str]:
    """Ids of the core enterprises the enterprise has a relationship with."""
    r, e = schema.relationships, schema.enterprises
    query = (
        select(e.c.id)
        .join(r, e.c.id == _other_party(enterprise_id))
        .where(_involving(enterprise_id), e.c.role == "core")
    )
    with db.read() as conn:
        return set(conn.execute(query).scalars())


def risk_events(db: Reader, enterprise_id: str) -> list[RiskEventRow]:
    """All risk events of the enterprise, newest first."""
    ev = schema.risk_events
    query = select(ev).where(ev.c.enterprise_id == enterprise_id)
    return fetch(db, query.order_by(ev.c.event_date.desc(), ev.c.id), RiskEventRow)


def financing_history(db: Reader, enterprise_id: str) -> list[FinancingRow]:
    """All financing the enterprise applied for, newest first."""
    f = schema.financing
    query = select(f).where(f.c.applicant_id == enterprise_id)
    return fetch(db, query.order_by(f.c.start_date.desc(), f.c.id), FinancingRow)
