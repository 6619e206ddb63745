"""Compile a :class:`Query` into parameterised SQLAlchemy Core and run it on the read connection.

The caller's client scope is joined in here, always, on the column that names whose metric a
row is (``subject``): neither the parser nor a model can widen it. Sums are taken in integer fen
in the database (exact on SQLite, PostgreSQL and MariaDB alike); ratios and derived metrics are
computed from those exact sums in Python.

>>> result = run_query(ctx, Query(metrics=["invoice_amount"], group_by=["enterprise"], limit=3))  # doctest: +SKIP
>>> [(row["enterprise_name"], row["invoice_amount"]) for row in result.rows]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    case,
    extract,
    func,
    or_,
    select,
    type_coerce,
)

from finassist.errors import InvalidInput
from finassist.finance.access import is_admin, require_visible
from finassist.finance.analytics.common import days_between, fen_sum, share, tenth, yuan_sum
from finassist.finance.base import ToolContext
from finassist.finance.query.catalogue import AS_OF, Metric, QueryCatalogue, load_query_catalogue
from finassist.finance.query.model import Query
from finassist.finance.query.periods import Period, last_months
from finassist.store import schema

DEFAULT_MONTHS = 12
INVOICE_LIST_LIMIT = 20
LISTINGS = ("invoice", "payment")  # one row per invoice / per payment, cut in the database
# 最近一笔回款 without a period: every record up to the data's date (no lower bound in the SQL).
ALL_RECORDS = "截至数据日期的全部记录"
TABLES = {
    "invoices": schema.invoices,
    "payments": schema.payments,
    "financing": schema.financing,
    "orders": schema.orders,
    "risk_events": schema.risk_events,
    "enterprises": schema.enterprises,
}
OPEN = ("unpaid", "partial")
Key = tuple[Any, ...]


@dataclass
class QueryResult:
    """Rows of a run query: one dict per group, keys = dimensions and metric keys.

    ``period`` is the period flow metrics were computed over (None when every metric is a
    balance as of ``as_of``); ``total`` counts the groups before ``limit`` cut the list.
    """

    query: Query
    period: Period | None
    as_of: date
    rows: list[dict[str, Any]]
    total: int
    compare_period: Period | None = None
    snapshot: bool = False
    names: dict[str, str] = field(default_factory=dict)


# -- validation ------------------------------------------------------------------------------------


def validate(query: Query, catalogue: QueryCatalogue) -> None:
    """Reject a query the catalogue cannot answer, naming what is wrong (Chinese)."""
    for name in [*query.metrics, *(t.metric.partition("__")[0] for t in query.thresholds)]:
        if name not in catalogue.metrics:
            raise InvalidInput(
                f"没有名为 {name} 的指标。可用：{', '.join(sorted(catalogue.metrics))}"
            )
    for threshold in query.thresholds:
        base, _, change = threshold.metric.partition("__")
        if change and (
            change not in ("change", "change_rate")
            or not query.compare
            or base not in query.metrics
        ):
            raise InvalidInput(
                f"按变化筛选（{threshold.metric}）需要对比期（compare），且指标须在 metrics 中"
            )
    base, _, change = (query.order_by or "").partition("__")
    if query.order_by and (
        base not in query.metrics
        or (change and (change not in ("change", "change_rate") or not query.compare))
    ):
        raise InvalidInput(
            f"排序指标 {query.order_by} 必须在 metrics 中（有对比期时也可按 指标__change、"
            "指标__change_rate 排序）"
        )
    for metric_name in query.metrics:
        metric = catalogue.metrics[metric_name]
        allowed = metric.allowed(catalogue)
        wanted = [*query.group_by, *(f.dimension for f in query.filters)]
        for dim in wanted:
            if dim not in catalogue.dimensions:
                raise InvalidInput(
                    f"没有名为 {dim} 的维度。可用：{', '.join(sorted(catalogue.dimensions))}"
                )
            if dim not in allowed and dim != "enterprise":
                raise InvalidInput(
                    f"指标“{metric.label}”不能按“{catalogue.dimensions[dim].label}”分组或筛选"
                )
        for dim in query.group_by:
            if not catalogue.dimensions[dim].group:
                raise InvalidInput(f"维度“{catalogue.dimensions[dim].label}”只能用于筛选")
    listed = [d for d in query.group_by if d in LISTINGS]
    if listed and len(query.metrics) > 1:
        raise InvalidInput("按发票或逐笔付款列出时只能取一个指标")
    if query.pick and not listed:
        raise InvalidInput("取最近或最早的记录（pick）需要按 invoice 或 payment 逐笔列出")
    if query.pick and query.compare:
        raise InvalidInput("取最近或最早的记录时不能做同比或环比")
    if query.period and query.period.end < query.period.start:
        raise InvalidInput("统计期的结束日期早于开始日期")


# -- SQL ---------------------------------------------------------------------------------------


def _fen(column: ColumnElement[Any]) -> ColumnElement[int]:
    return type_coerce(column, BigInteger)


def _aggregate(metric: Metric, t: Any) -> list[ColumnElement[Any]]:
    """The aggregate columns of a base metric (one, or two for a weighted average)."""
    kind = metric.aggregate
    if kind == "count":
        return [func.count()]
    if kind == "sum_amount":
        return [yuan_sum(t.c.amount)]
    if kind == "sum_gross":
        return [yuan_sum(_fen(t.c.amount) + _fen(t.c.tax))]
    if kind == "sum_open":
        return [yuan_sum(_fen(t.c.amount) + _fen(t.c.tax) - _fen(t.c.paid_amount))]
    gross = _fen(t.c.amount) + _fen(t.c.tax)  # weighted_collection_days
    return [fen_sum(gross * days_between(t.c.issue_date, t.c.paid_date)), fen_sum(gross)]


def _condition(t: Any, cond: Any, as_of: date) -> ColumnElement[bool]:
    column = t.c[cond.column]
    value = as_of if cond.value == AS_OF else cond.value
    ops = {
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "in": lambda: column.in_(list(value)),
        "notin": lambda: column.not_in(list(value)),
        "lt": lambda: column < value,
        "le": lambda: column <= value,
    }
    return ops[cond.op]()


def _quarter(month: ColumnElement[Any]) -> ColumnElement[int]:
    return case((month <= 3, 1), (month <= 6, 2), (month <= 9, 3), else_=4)


def _dimension_columns(
    dim: str, metric: Metric, t: Any, ent: Any, catalogue: QueryCatalogue,
    subject: ColumnElement[Any] | None = None,
) -> list[ColumnElement[Any]]:  # fmt: skip
    source = catalogue.dimensions[dim].source
    if source == "subject":
        return [t.c[metric.subject] if subject is None else subject]
    if source == "counterparty":
        return [t.c[metric.counterparty]]
    kind, _, name = source.partition(".")
    if kind == "enterprise":
        return [ent.c[name]]
    if kind == "column":
        if name == "invoice_no":  # an invoice list shows what identifies each invoice
            return [t.c.invoice_no, t.c[metric.counterparty], t.c.issue_date, t.c.due_date,
                    t.c.status]  # fmt: skip
        if name == "payment_id":  # a payment: who paid (or was paid), when, for which invoice
            return [t.c.id, t.c[metric.counterparty], t.c.paid_date, t.c.invoice_no]
        return [t.c[name]]
    time_col = t.c[metric.time]
    year = extract("year", time_col)
    if name == "year":
        return [year]
    month = extract("month", time_col)
    return [year, _quarter(month) if name == "quarter" else month]


def _filter(
    dim: str, values: list[str], metric: Metric, t: Any, ent: Any, catalogue: QueryCatalogue,
    as_of: date,
) -> ColumnElement[bool]:  # fmt: skip
    dimension = catalogue.dimensions[dim]
    if dimension.source == "overdue":  # values ["true"], or ["30"]: overdue by more than 30 days
        days = int(values[0]) if values and values[0].isdigit() else 0
        return and_(t.c.status.in_(OPEN), t.c.due_date < as_of - timedelta(days=days))
    if dimension.source == "counterparty.role":  # 付给供应商: the other side's kind of company
        others = select(ent.c.id).where(ent.c.role.in_(values))
        return t.c[str(metric.counterparty)].in_(others)
    column = _dimension_columns(dim, metric, t, ent, catalogue)[0]
    if dimension.match == "contains":
        return or_(*(column.contains(v, autoescape=True) for v in values))
    return column.in_(values)


def _needs_enterprise(query: Query, catalogue: QueryCatalogue) -> bool:
    dims = [*query.group_by, *(f.dimension for f in query.filters)]
    return any(catalogue.dimensions[d].source.startswith("enterprise.") for d in dims)


def build_select(
    ctx: ToolContext,
    metric: Metric,
    query: Query,
    period: Period | None,
    group_by: list[str],
    catalogue: QueryCatalogue,
    *,
    admin: bool,
) -> tuple[Select[Any], int]:
    """The SELECT of one base metric: group columns first, then its aggregate columns.

    Returns the statement and how many leading columns are group keys.
    """
    t = TABLES[str(metric.table)]
    ent = schema.enterprises
    own = t is ent  # a metric over the enterprises themselves (how many clients) needs no join
    mc = schema.manager_clients
    subject = t.c[str(metric.subject)]
    # Grouped by the scope's own column (equal to the subject through the join), the rows of a
    # whole-book screen arrive in group order, as the join walks the manager's clients in key
    # order: the database aggregates as it reads instead of sorting every row first.
    group_subject = subject if admin else mc.c.enterprise_id
    keys: list[ColumnElement[Any]] = []
    for dim in group_by:
        keys += _dimension_columns(dim, metric, t, ent, catalogue, group_subject)
    stmt = select(*keys, *_aggregate(metric, t)).select_from(t)
    if not admin:  # the caller's scope, joined by the compiler and nobody else
        stmt = stmt.join(
            mc, and_(mc.c.enterprise_id == subject, mc.c.manager_id == ctx.caller.manager_id)
        )
    if not own and (
        _needs_enterprise(query, catalogue)
        or any(catalogue.dimensions[d].source.startswith("enterprise.") for d in group_by)
    ):
        stmt = stmt.join(ent, ent.c.id == subject)
    for cond in metric.where:
        stmt = stmt.where(_condition(t, cond, ctx.as_of))
    if period is not None and (not metric.snapshot or query.period is not None):
        # A balance (snapshot) is always as of the data's date; a period the user named
        # narrows which rows it covers (开票日在9月的未结发票).
        time_col = t.c[str(metric.time)]
        if period.start > date.min:
            stmt = stmt.where(time_col >= period.start)
        stmt = stmt.where(time_col <= period.end)
    for flt in query.filters:
        stmt = stmt.where(_filter(flt.dimension, flt.values, metric, t, ent, catalogue, ctx.as_of))
    if keys:
        stmt = stmt.group_by(*keys)
    return stmt, len(keys)


# -- running ---------------------------------------------------------------------------------------


def _finish(metric: Metric, values: tuple[Any, ...]) -> Any:
    if metric.aggregate == "weighted_collection_days":
        weighted, total = int(values[0] or 0), int(values[1] or 0)
        return tenth(Decimal(weighted) / Decimal(total)) if total else None
    if metric.aggregate == "count":
        return int(values[0] or 0)
    return values[0] if values[0] is not None else Decimal("0.00")


def _key_width(dim: str, catalogue: QueryCatalogue) -> int:
    source = catalogue.dimensions[dim].source
    if source == "column.invoice_no":
        return 5
    if source == "column.payment_id":
        return 4
    return 2 if source in ("time.month", "time.quarter") else 1


def _run_base(
    ctx: ToolContext, conn: Any, metric: Metric, query: Query, period: Period | None,
    group_by: list[str], catalogue: QueryCatalogue, *, admin: bool,
) -> dict[Key, Any]:  # fmt: skip
    stmt, width = build_select(ctx, metric, query, period, group_by, catalogue, admin=admin)
    if any(d in LISTINGS for d in group_by):
        stmt = _listing(stmt, metric, query)
    return {
        tuple(_plain(v) for v in row[:width]): _finish(metric, tuple(row[width:]))
        for row in conn.execute(stmt)
    }


def _listing(stmt: Select[Any], metric: Metric, query: Query) -> Select[Any]:
    """A list of invoices or payments is cut in the database: order, thresholds and limit go
    into the SQL. ``pick`` orders by the record's date (最近一笔: newest first) and takes one
    unless a number was asked; the id breaks ties the same way, so the pick is stable."""
    columns = list(stmt.selected_columns)
    value, first = columns[-1], columns[0]
    for threshold in _level(query):
        op = {">": value.__gt__, ">=": value.__ge__, "<": value.__lt__, "<=": value.__le__}
        stmt = stmt.having(op[threshold.op](threshold.value))
    if query.pick:
        time_col = next(c for c in columns if c.name == metric.time)
        latest = query.pick == "latest"
        order = [time_col.desc(), first.desc()] if latest else [time_col.asc(), first.asc()]
        return stmt.order_by(*order).limit(query.limit or 1)
    order = value.desc() if query.descending else value.asc()
    return stmt.order_by(order, first).limit(query.limit or INVOICE_LIST_LIMIT)


def _plain(value: Any) -> Any:
    """Database values of a group key as plain Python (PostgreSQL's EXTRACT is a Decimal)."""
    return int(value) if isinstance(value, Decimal) else value


def _derive(
    metric: Metric, values: dict[str, dict[Key, Any]], keys: list[Key], period: Period | None,
    tops: dict[Key, Any],
) -> dict[Key, Any]:  # fmt: skip
    derived = metric.derived
    assert derived is not None
    out: dict[Key, Any] = {}
    for key in keys:
        if derived.op == "difference":
            a, b = (values[m].get(key) or Decimal("0") for m in derived.of)
            out[key] = Decimal(a) - Decimal(b)
        elif derived.op == "dso":
            open_amount = values[derived.of[0]].get(key) or Decimal("0")
            billed = values[derived.of[1]].get(key) or Decimal("0")
            days = period.days if period else 365
            out[key] = tenth(Decimal(open_amount) / Decimal(billed) * days) if billed else None
        elif derived.op == "ratio":  # the first over the second (逾期率 = 逾期 ÷ 未结)
            part = values[derived.of[0]].get(key) or Decimal("0")
            whole = values[derived.of[1]].get(key) or Decimal("0")
            out[key] = share(Decimal(part), Decimal(whole)) if whole else None
        else:  # top_share
            total = values[derived.of[0]].get(key) or Decimal("0")
            out[key] = share(tops.get(key, Decimal("0")), total) if total else None
    return out


def _compute(
    ctx: ToolContext, conn: Any, query: Query, period: Period | None, catalogue: QueryCatalogue,
    *, admin: bool,
) -> dict[str, dict[Key, Any]]:  # fmt: skip
    """Every metric of the query by group key."""
    values: dict[str, dict[Key, Any]] = {}
    wanted = list(dict.fromkeys([*query.metrics, *(t.metric for t in _level(query))]))
    needed: list[str] = []
    for name in wanted:
        needed += [b for b in catalogue.metrics[name].bases(catalogue) if b not in needed]
    for name in needed:
        values[name] = _run_base(
            ctx, conn, catalogue.metrics[name], query, period, query.group_by, catalogue,
            admin=admin,
        )  # fmt: skip
    keys = list(dict.fromkeys(k for v in values.values() for k in v))
    for name in wanted:
        metric = catalogue.metrics[name]
        if metric.derived is None:
            continue
        tops: dict[Key, Any] = {}
        if metric.derived.op == "top_share":
            base = catalogue.metrics[metric.derived.of[0]]
            by_pair = _run_base(
                ctx, conn, base, query, period, [*query.group_by, "counterparty"], catalogue,
                admin=admin,
            )  # fmt: skip
            for pair, value in by_pair.items():
                key = pair[:-1]
                tops[key] = max(tops.get(key, Decimal("0")), value)
        values[name] = _derive(metric, values, keys, period, tops)
    return values


def _level(query: Query) -> list[Any]:
    """Thresholds on a metric's value (the others are on its change against the comparison)."""
    return [t for t in query.thresholds if "__" not in t.metric]


def _compare(value: Any, op: str, limit: Any) -> bool:
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]


def _changed(query: Query, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose change against the comparison period passes (同比下降的供应商)."""
    checks = [t for t in query.thresholds if "__" in t.metric]
    return [
        row for row in rows
        if all(row.get(t.metric) is not None and _compare(row[t.metric], t.op, t.value)
               for t in checks)
    ]  # fmt: skip


def _passes(query: Query, values: dict[str, dict[Key, Any]], key: Key) -> bool:
    for threshold in _level(query):
        value = values[threshold.metric].get(key)
        if value is None:
            return False
        limit = threshold.value
        ok = {
            ">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit,
        }[threshold.op]  # fmt: skip
        if not ok:
            return False
    return True


def resolve_period(query: Query, catalogue: QueryCatalogue, as_of: date) -> Period | None:
    """The period the query's flow metrics use: its own, else the last 12 months; None when
    every metric is a balance as of the data's date."""
    if query.period is not None:
        p = query.period
        return Period(p.start, p.end, p.label or f"{p.start.isoformat()} 至 {p.end.isoformat()}")
    if query.pick:
        return Period(date.min, as_of, ALL_RECORDS)
    flows = [m for name in query.metrics for m in _bases(name, catalogue) if not m.snapshot]
    return last_months(DEFAULT_MONTHS, as_of) if flows else None


def _bases(name: str, catalogue: QueryCatalogue) -> list[Metric]:
    return [catalogue.metrics[b] for b in catalogue.metrics[name].bases(catalogue)]


def run_query(
    ctx: ToolContext, query: Query, catalogue: QueryCatalogue | None = None
) -> QueryResult:
    """Validate and run ``query`` as the caller; rows sorted and cut as the query asks."""
    catalogue = catalogue or load_query_catalogue()
    validate(query, catalogue)
    period = resolve_period(query, catalogue, ctx.as_of)
    admin = is_admin(ctx)
    for enterprise_id in query.filter_values("enterprise"):
        require_visible(ctx, enterprise_id)  # same answer as for a company that does not exist
    with ctx.read() as conn:
        values = _compute(ctx, conn, query, period, catalogue, admin=admin)
        previous: dict[str, dict[Key, Any]] = {}
        compare_period = None
        if query.compare and period is not None:
            compare_period = period.shifted(query.compare)
            previous = _compute(ctx, conn, query, compare_period, catalogue, admin=admin)
            previous = _aligned(query, previous, period, compare_period, catalogue)
        rows = _changed(query, _rows(query, values, previous, catalogue))
        _mark_partial(query, rows, period, catalogue)
        total = len(rows)
        _add_shares(query, rows, catalogue)
        rows = _ordered(query, rows, catalogue)
        names = _names(conn, rows, query)  # of the rows shown, not of the whole book
    for row in rows:
        for key in ("enterprise", "counterparty"):
            if key in row:
                row[f"{key}_name"] = names.get(row[key], row[key])
    snapshot = all(m.snapshot for name in query.metrics for m in _bases(name, catalogue))
    return QueryResult(query, period, ctx.as_of, rows, total, compare_period, snapshot, names)


def _bucket(dim: str, label: str, catalogue: QueryCatalogue) -> tuple[date, date] | None:
    """The first and last day of a month, quarter or year bucket, from its label."""
    source = catalogue.dimensions[dim].source
    if not source.startswith("time."):
        return None
    year = int(label[:4])
    if source == "time.month":
        first = date(year, int(label[5:7]), 1)
        months = 1
    elif source == "time.quarter":
        first = date(year, "一二三四".index(label[-3]) * 3 + 1, 1)
        months = 3
    elif source == "time.year":
        first, months = date(year, 1, 1), 12
    else:
        return None
    index = first.year * 12 + first.month - 1 + months
    return first, date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def _mark_partial(
    query: Query, rows: list[dict[str, Any]], period: Period | None, catalogue: QueryCatalogue
) -> None:
    """A time bucket the period cuts (本季度 as of 10-31) says so: ``quarter_until`` /
    ``quarter_since`` hold the period's end / start, so no one reads it as a whole quarter."""
    if period is None:
        return
    for dim in query.group_by:
        for row in rows:
            bounds = row.get(dim) and _bucket(dim, str(row[dim]), catalogue)
            if not bounds:
                continue
            if bounds[1] > period.end:
                row[f"{dim}_until"] = period.end
            if bounds[0] < period.start:
                row[f"{dim}_since"] = period.start


def _add_shares(query: Query, rows: list[dict[str, Any]], catalogue: QueryCatalogue) -> None:
    """Each company's share of the amount over every row (前五大客户占比), before the cut."""
    if not query.group_by or any(d not in ("enterprise", "counterparty") for d in query.group_by):
        return
    for name in query.metrics:
        if catalogue.metrics[name].unit != "元":
            continue
        whole = sum((Decimal(r[name]) for r in rows if r.get(name) is not None), Decimal(0))
        if whole > 0:
            for row in rows:
                if row.get(name) is not None and row[name] >= 0:
                    row[f"{name}__share"] = share(Decimal(row[name]), whole)


def _ordered(
    query: Query, rows: list[dict[str, Any]], catalogue: QueryCatalogue
) -> list[dict[str, Any]]:
    """The rows in the order the query asks for, cut to its limit."""
    chronological = query.order_by is None and any(
        catalogue.dimensions[d].source.startswith("time.") for d in query.group_by
    )
    if chronological:
        rows.sort(key=lambda r: tuple(_chronological(str(r[d])) for d in query.group_by))
    elif not any(d in LISTINGS for d in query.group_by):
        order = query.order_metric
        present = [r for r in rows if r.get(order) is not None]
        absent = [r for r in rows if r.get(order) is None]
        present.sort(key=lambda r: (r[order], _tiebreak(r)), reverse=query.descending)
        rows = present + absent
        if query.limit:
            rows = rows[: query.limit]
    return rows


def _chronological(label: str) -> str:
    """A time label that sorts in time order (第二季度 after 第一季度, not after 第三)."""
    for digit, numeral in enumerate("一二三四", start=1):
        label = label.replace(f"第{numeral}季度", f"第{digit}季度")
    return label


def _tiebreak(row: dict[str, Any]) -> Any:
    return str(row.get("enterprise") or row.get("month") or "")


def _rows(
    query: Query, values: dict[str, dict[Key, Any]], previous: dict[str, dict[Key, Any]],
    catalogue: QueryCatalogue,
) -> list[dict[str, Any]]:  # fmt: skip
    keys = list(dict.fromkeys(k for name in query.metrics for k in values[name]))
    if not query.group_by and not keys:
        keys = [()]
    rows = []
    for key in keys:
        if not _passes(query, values, key):
            continue
        row = _key_fields(query.group_by, key, catalogue)
        for name in query.metrics:
            metric = catalogue.metrics[name]
            default = None if metric.unit in ("天", "比例") else (
                0 if metric.aggregate == "count" else Decimal("0.00")
            )  # fmt: skip
            row[name] = values[name].get(key, default)
            if previous:
                prev = previous[name].get(_time_key(query.group_by, key, catalogue), default)
                row[f"{name}__previous"] = prev
                if isinstance(row[name], Decimal | int) and isinstance(prev, Decimal | int):
                    row[f"{name}__change"] = Decimal(row[name]) - Decimal(prev)
                    row[f"{name}__change_rate"] = (
                        share(Decimal(row[name]) - Decimal(prev), abs(Decimal(prev)))
                        if prev
                        else None
                    )
        rows.append(row)
    return rows


_TIME_UNITS = {"time.month": 1, "time.quarter": 3, "time.year": 12}  # months per bucket


def _time_key(group_by: list[str], key: Key, catalogue: QueryCatalogue, shift: int = 0) -> Key:
    """``key`` with its time parts as integers (drivers return ``'09'`` or ``9``), each moved
    ``shift`` months later; the other parts unchanged."""
    out: list[Any] = []
    position = 0
    for dim in group_by:
        width = _key_width(dim, catalogue)
        part = key[position : position + width]
        position += width
        unit = _TIME_UNITS.get(catalogue.dimensions[dim].source)
        if unit is None:
            out.extend(part)
        elif unit == 12:
            out.append(int(part[0]) + shift // 12)
        else:
            index = int(part[0]) * 12 + (int(part[1]) - 1) * unit + shift
            out.extend((index // 12, index % 12 // unit + 1))
    return tuple(out)


def _aligned(
    query: Query, previous: dict[str, dict[Key, Any]], period: Period, compare: Period,
    catalogue: QueryCatalogue,
) -> dict[str, dict[Key, Any]]:  # fmt: skip
    """The comparison period's values keyed by the bucket they compare with: grouped by month,
    2025-01 of 去年同期 sits beside 2026-01. Where the two periods' buckets do not line up (a
    comparison shifted by days, not whole months) no bucket has a comparison value."""
    units = [_TIME_UNITS[s] for d in query.group_by
             if (s := catalogue.dimensions[d].source) in _TIME_UNITS]  # fmt: skip
    months = (
        (period.start.year - compare.start.year) * 12 + period.start.month - compare.start.month
    )
    if not units:
        return previous
    if period.start.day != compare.start.day or any(months % unit for unit in units):
        return {name: {} for name in previous}
    return {
        name: {_time_key(query.group_by, k, catalogue, months): v for k, v in by_key.items()}
        for name, by_key in previous.items()
    }


def _key_fields(group_by: list[str], key: Key, catalogue: QueryCatalogue) -> dict[str, Any]:
    row: dict[str, Any] = {}
    position = 0
    for dim in group_by:
        width = _key_width(dim, catalogue)
        part = key[position : position + width]
        position += width
        source = catalogue.dimensions[dim].source
        if source == "time.month":
            row[dim] = f"{int(part[0]):04d}-{int(part[1]):02d}"
        elif source == "time.quarter":
            row[dim] = f"{int(part[0])}年第{'一二三四'[int(part[1]) - 1]}季度"
        elif source == "time.year":
            row[dim] = f"{int(part[0])}年"
        elif source == "column.invoice_no":
            row.update(
                invoice=part[0], counterparty=part[1], issue_date=part[2], due_date=part[3],
                status=part[4],
            )  # fmt: skip
        elif source == "column.payment_id":
            row.update(payment=part[0], counterparty=part[1], paid_date=part[2],
                       invoice_no=part[3])  # fmt: skip
        else:
            row[dim] = part[0]
    return row


def _names(conn: Any, rows: list[dict[str, Any]], query: Query) -> dict[str, str]:
    ids = {row[k] for row in rows for k in ("enterprise", "counterparty") if row.get(k)}
    ids |= set(query.filter_values("enterprise")) | set(query.filter_values("counterparty"))
    if not ids:
        return {}
    e = schema.enterprises
    found = conn.execute(select(e.c.id, e.c.name).where(e.c.id.in_(sorted(ids))))
    return {row.id: row.name for row in found}
