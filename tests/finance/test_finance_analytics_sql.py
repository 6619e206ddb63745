"""The SQL building blocks of the analytics: day differences, planner hints, first rows, fetch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import mysql, postgresql, sqlite

from finassist.finance.analytics.common import days_between, first_rows, unindexed
from finassist.finance.base import ToolContext
from finassist.finance.rows import InvoiceRow, PaymentRow, fetch
from finassist.store import Database, schema

INV = schema.invoices


@pytest.fixture(scope="module")
def db(make_ctx: Callable[..., ToolContext]) -> Database:
    return make_ctx().db


def _sql(expr: object, dialect: object) -> str:
    return str(expr.compile(dialect=dialect))  # type: ignore[attr-defined]


def test_days_between_compiles_for_each_dialect() -> None:
    expr = days_between(INV.c.issue_date, INV.c.paid_date)
    assert _sql(expr, sqlite.dialect()) == (
        "CAST(julianday(invoices.paid_date) - julianday(invoices.issue_date) AS INTEGER)"
    )
    assert _sql(expr, postgresql.dialect()) == "(invoices.paid_date - invoices.issue_date)"
    assert _sql(expr, mysql.dialect()) == "DATEDIFF(invoices.paid_date, invoices.issue_date)"


def test_days_between_counts_whole_days_in_the_database(db: Database) -> None:
    taken = days_between(INV.c.issue_date, INV.c.paid_date)
    delay = days_between(INV.c.due_date, INV.c.paid_date)
    query = select(INV.c.invoice_no, taken, delay).where(INV.c.status == "paid")
    with db.read() as conn:
        counted = {row[0]: (int(row[1]), int(row[2])) for row in conn.execute(query)}
    paid = fetch(db, select(INV).where(INV.c.status == "paid"), InvoiceRow)
    assert paid and counted == {
        r.invoice_no: ((r.paid_date - r.issue_date).days, (r.paid_date - r.due_date).days)
        for r in paid
        if r.paid_date
    }
    assert min(delay for _, delay in counted.values()) < 0  # paid early: negative days


def test_unindexed_is_the_plain_column_except_on_sqlite() -> None:
    assert _sql(unindexed(INV.c.issue_date) <= "2026-10-31", sqlite.dialect()).startswith(
        "+invoices.issue_date <="
    )
    assert _sql(unindexed(INV.c.issue_date), postgresql.dialect()) == "invoices.issue_date"
    assert _sql(unindexed(INV.c.issue_date), mysql.dialect()) == "invoices.issue_date"


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 50])
def test_first_rows_are_the_rows_of_order_by_limit(db: Database, limit: int) -> None:
    # Amount 10,000.00 appears twice and due date 2026-07-01 twice: ties cross the cut-off.
    not_void = INV.c.status != "void"
    by_amount = select(INV).where(not_void).order_by(INV.c.amount.desc(), INV.c.invoice_no)
    by_due = select(INV).where(not_void).order_by(INV.c.due_date, INV.c.invoice_no)
    owed = INV.c.amount + INV.c.tax - INV.c.paid_amount
    by_owed = select(INV).where(not_void).order_by(owed.desc(), INV.c.invoice_no)
    for query, key, descending in (
        (by_amount, INV.c.amount, True),
        (by_due, INV.c.due_date, False),
        (by_owed, owed, True),
    ):
        expected = fetch(db, query.limit(limit), InvoiceRow)
        assert first_rows(db, query, InvoiceRow, key, limit, descending=descending) == expected
    assert first_rows(db, by_amount, InvoiceRow, INV.c.amount, 0) == []


def test_fetch_refuses_columns_that_are_not_the_row_type(db: Database) -> None:
    p = schema.payments
    with pytest.raises(TypeError, match="PaymentRow"):
        fetch(db, select(p.c.amount, p.c.id), PaymentRow)
