"""What every analytics module shares: rounding, windows, and a few portable SQL building blocks.

Money sums are taken in SQL over integer fen (exact on every backend); day differences are
computed in the database by :class:`days_between`, compiled per dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, case, func, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from finassist.finance.rows import Reader, fetch
from finassist.store.schema import Money

T = TypeVar("T")

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
TENTH = Decimal("0.1")
FEN_PER_YUAN = 100


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


# -- SQL building blocks ---------------------------------------------------------------------------


class days_between(FunctionElement[int]):  # lower case: it reads like the SQL function it is
    """Whole days from ``start`` to ``end`` (negative when ``end`` is earlier), in the database.

    ``days_between(invoices.c.issue_date, invoices.c.paid_date)`` compiles to
    ``CAST(julianday(paid_date) - julianday(issue_date) AS INTEGER)`` on SQLite,
    ``DATEDIFF(paid_date, issue_date)`` on MySQL/MariaDB and ``(paid_date - issue_date)``
    elsewhere (PostgreSQL subtracts dates to whole days).
    """

    type = Integer()
    inherit_cache = True
    name = "days_between"


def _start_end(element: days_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = list(element.clauses)
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(days_between)
def _days_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _start_end(element, compiler, **kw)
    return f"({end} - {start})"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _start_end(element, compiler, **kw)
    # Dates are ISO text; julianday of a date is a whole day + .5, so the difference is exact.
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)"


@compiles(days_between, "mysql")
@compiles(days_between, "mariadb")
def _days_mysql(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _start_end(element, compiler, **kw)
    return f"DATEDIFF({end}, {start})"


class unindexed(FunctionElement[Any]):  # lower case: it reads like a SQL function
    """``expr`` unchanged, except that SQLite's planner will not pick an index for it.

    SQLite without ``ANALYZE`` statistics prefers a range on an indexed column to a few
    equalities on another index, even when the other index covers the query. Wrapping the
    column of a filter that only trims (``issue_date <= as_of`` on open invoices) steers it to
    the better index; SQLite's documented idiom is a unary ``+``. Other databases keep their
    statistics-based choice and see the plain column.
    """

    inherit_cache = True
    name = "unindexed"

    def __init__(self, expr: ColumnElement[Any]) -> None:
        super().__init__(expr)
        self.type = expr.type


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(next(iter(element.clauses)), **kw)}"


def yuan_sum(expr: ColumnElement[Any]) -> ColumnElement[Decimal]:
    """``SUM(expr)`` of a money expression (stored fen), read back as ``Decimal`` yuan."""
    return func.sum(type_coerce(expr, Money))


def fen_sum(expr: ColumnElement[Any]) -> ColumnElement[int]:
    """``SUM(expr)`` kept in integer fen (for weighted sums such as fen x days)."""
    return func.sum(type_coerce(expr, BigInteger))


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END)``: portable conditional count."""
    return func.sum(case((condition, 1), else_=0))


def when(condition: ColumnElement[bool], expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """``CASE WHEN condition THEN expr ELSE 0 END``, to sum a part of the rows."""
    return case((condition, expr), else_=0)


def as_int(value: Any) -> int:
    """A SQL count or fen sum as ``int`` (SQLite gives int, PostgreSQL and MySQL Decimal, or None)."""
    return int(value or 0)


def first_rows(
    db: Reader,
    query: Select[Any],
    row_type: type[T],
    key: ColumnElement[Any],
    limit: int,
    *,
    descending: bool = True,
) -> list[T]:
    """The first ``limit`` rows of ``query`` (already ordered by ``key``, then a tie-breaker).

    A plain ``ORDER BY ... LIMIT`` makes the database read every matching row from the table
    before sorting: tens of thousands of reads at a core enterprise. Here the ``limit``-th value
    of ``key`` is found first (from the index alone when the index covers the filter and the
    key), and then only rows at or beyond it are read, ties included.
    """
    if limit <= 0:
        return []
    order = key.desc() if descending else key.asc()
    cutoff_query = query.with_only_columns(key).order_by(None).order_by(order)
    with db.read() as conn:
        cutoff = conn.execute(cutoff_query.limit(1).offset(limit - 1)).scalar()
    if cutoff is not None:
        query = query.where(key >= cutoff if descending else key <= cutoff)
    return fetch(db, query.limit(limit), row_type)
