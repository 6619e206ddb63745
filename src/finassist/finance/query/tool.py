"""Evidence of a query result, and the one ``query_data`` tool a model fills instead of SQL.

Each result row becomes one record that states its figures; a summary record states what was
computed (metrics, period, filters). The assistant cites them, and the guard checks every
figure of the answer against them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from finassist.errors import InvalidInput
from finassist.finance.base import Record, Tool, ToolContext, ToolResult, jsonable, register
from finassist.finance.evidence import fmt_value
from finassist.finance.query.catalogue import QueryCatalogue, load_query_catalogue
from finassist.finance.query.compiler import ALL_RECORDS, QueryResult, run_query
from finassist.finance.query.model import PeriodSpec, Query
from finassist.finance.query.periods import parse_period

SOURCE = "查询·query_data"
MAX_ROW_RECORDS = 100


def digest(query: Query) -> str:
    """A short stable id of a query, for evidence ids."""
    text = json.dumps(jsonable(query.model_dump()), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def value_text(value: Any, unit: str) -> str:
    """A metric value as an answer writes it (``1,234.00 元``, ``36.2 天``, ``25.00%``, ``3 张``)."""
    if value is None:
        return "暂无数据"
    if unit == "比例":
        return fmt_value(Decimal(value), "比例")
    if unit == "元":
        return fmt_value(Decimal(value), "元")
    return f"{value} {unit}"


def row_label(row: dict[str, Any], group_by: list[str]) -> str:
    """What a row is about: a company name, a month, an invoice number ..."""
    parts = []
    for dim in group_by:
        if dim in ("enterprise", "counterparty"):
            parts.append(str(row.get(f"{dim}_name") or row.get(dim)))
        elif dim == "invoice":
            parts.append(f"发票 {row['invoice']}")
        elif dim == "payment":  # 2026-10-28 华东汽车 付款（发票 INV…）
            who = row.get("counterparty_name") or row.get("counterparty")
            parts.append(f"{row['paid_date']} {who} 付款（发票 {row['invoice_no']}）")
        else:
            parts.append(str(row.get(dim)) + partial_text(row, dim))
    return "·".join(parts)


def partial_text(row: dict[str, Any], dim: str) -> str:
    """``（截至 2026-10-31）`` after a month, quarter or year the period cuts short ('' if whole)."""
    since, until = row.get(f"{dim}_since"), row.get(f"{dim}_until")
    if since and until:
        return f"（仅 {since.isoformat()} 至 {until.isoformat()}）"
    if until:
        return f"（截至 {until.isoformat()}，不满整{UNIT_NAME.get(dim, '期')}）"
    if since:
        return f"（自 {since.isoformat()} 起，不满整{UNIT_NAME.get(dim, '期')}）"
    return ""


UNIT_NAME = {"month": "月", "quarter": "季", "year": "年"}


TIME_LABEL = {
    "issue_date": "开票日",
    "paid_date": "付款日",
    "start_date": "起始日",
    "end_date": "到期日",
    "order_date": "下单日",
    "event_date": "事件日期",
}


def period_text(result: QueryResult, catalogue: QueryCatalogue | None = None) -> str:
    """The period an answer states: ``2026年9月（2026-09-01 至 2026-09-30）`` for flows;
    ``截至 2026-10-31`` for balances, with the period they were narrowed to if one was named."""
    catalogue = catalogue or load_query_catalogue()
    if not result.snapshot:
        if result.period is not None and result.period.start == date.min:  # 最近一笔, no period
            return f"{result.period.label}（截至 {result.period.end.isoformat()}）"
        return result.period.text if result.period else ""
    when = f"截至 {result.as_of.isoformat()}"
    if result.period is not None and result.query.period is not None:
        field = catalogue.metrics[result.query.metrics[0]].bases(catalogue)[0]
        label = TIME_LABEL.get(str(catalogue.metrics[field].time), "日期")
        when += f"，{label}在{result.period.text}"
    return when


def chain_financing_queries(core_id: str, as_of: date) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``query_data`` arguments for the financing under a core enterprise (its suppliers'
    and dealers', every record to the data's date): its count and balance, then how many are
    overdue. A core applies for none itself; the post-loan answer and the report show these."""
    ever = {"start": date.min, "end": as_of, "label": ALL_RECORDS}
    under = [{"dimension": "counterparty", "values": [core_id]}]
    total = {"metrics": ["financing_count", "financing_balance"], "filters": under, "period": ever}
    late = {"metrics": ["financing_count"], "period": ever,
            "filters": [*under, {"dimension": "status", "values": ["overdue"]}]}  # fmt: skip
    return total, late


def row_records(result: ToolResult) -> list[Record]:
    """The records of a ``query_data`` result that state its rows (not the query itself)."""
    query = result.records[0].id if result.records else ""
    return [r for r in result.records if r.id.startswith(f"{query}:")]


def records(
    result: QueryResult, catalogue: QueryCatalogue | None = None, scope_name: str = ""
) -> list[Record]:
    """The summary record and one record per row (first :data:`MAX_ROW_RECORDS`)."""
    catalogue = catalogue or load_query_catalogue()
    query = result.query
    key = digest(query)
    period = result.period
    summary: dict[str, Any] = {
        "query": jsonable(query.model_dump()),
        "as_of": result.as_of,
        "total": result.total,
        "shown": len(result.rows),
    }
    if period is not None and period.start == date.min:
        period = None  # every record up to the data's date: no start to state
    if period is not None:
        summary |= {"start": period.start, "end": period.end, "period": period.label}
    if result.compare_period is not None:
        cp = result.compare_period
        summary |= {"compare_start": cp.start, "compare_end": cp.end}
    labels = "、".join(catalogue.metrics[m].label for m in query.metrics)
    when = period_text(result)
    out = [
        Record(
            "metric",
            f"query:{key}",
            SOURCE,
            summary,
            f"查询{scope_name}{labels}，{when}，共 {result.total} 组结果",
        )
    ]
    for index, row in enumerate(result.rows[:MAX_ROW_RECORDS], start=1):
        label = row_label(row, query.group_by) or scope_name or "合计"
        shown = "；".join(
            f"{catalogue.metrics[m].label} {value_text(row.get(m), catalogue.metrics[m].unit)}"
            for m in query.metrics
        )
        data = {**row, "rank": index}  # the 序号 an answer's table shows
        if period is not None:
            data |= {"start": period.start, "end": period.end}
        out.append(
            Record("metric", f"query:{key}:{index}", SOURCE, data, f"{label}：{shown}（{when}）")
        )
    return out


@register
class QueryData(Tool):
    """The query layer as one tool: a model fills a :class:`Query`; the compiler runs it."""

    name = "query_data"
    description = (
        "按指标、维度、时间段查询当前客户经理名下客户的数据（只读；客户范围由系统自动限定）。"
        "指标：invoice_amount 开票金额（含税）、sales_amount 开票金额（不含税）、invoice_count 开票张数、open_amount 未结应收金额、"
        "overdue_amount 逾期应收金额、overdue_count 逾期发票张数、avg_collection_days 平均回款天数、"
        "dso 应收账款周转天数、inflow 资金流入、outflow 资金流出、net_flow 净流入、"
        "early_payment_requests 提前回款申请次数、financing_amount 融资发生额、financing_count 融资笔数、"
        "maturing_amount 到期融资金额、maturing_count 到期融资笔数（按到期日统计，period 可在数据日期之后）、"
        "financing_balance 融资余额、order_amount 订单金额、order_count 订单笔数、"
        "risk_event_count 风险事件数、top_customer_share 第一大客户占比、client_count 客户家数、overdue_rate 逾期率、received_order_amount 接单金额、received_order_count 接单笔数。"
        "purchase_invoice_amount 采购发票金额（含税，该企业作为购方）、purchase_invoice_count 采购发票张数。"
        "维度：enterprise（企业编号）、counterparty、role（core/supplier/distributor）、"
        "counterparty_role（交易对手的企业类型，仅筛选，如核心企业付给供应商的款）、industry、"
        "region、product、status、risk_kind、invoice（逐张发票）、payment（逐笔付款，资金流入/流出）、"
        "overdue（仅筛选）、month、quarter、year。pick=latest/earliest 配合 invoice 或 payment "
        "取最近/最早的几笔。"
        "时间可用 period（起止日期）或 period_text（中文，如“9月份”“今年以来”“近3个月”）。"
    )

    class Args(Query):
        period_text: str | None = Field(
            None, max_length=40, description="中文时间说法，如“三季度”“上个月”；与 period 二选一"
        )

        @model_validator(mode="after")
        def _one_period(self) -> QueryData.Args:
            if self.period is not None and self.period_text:
                raise ValueError("period 与 period_text 只能二选一")
            return self

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        data = args.model_dump(exclude={"period_text"})
        if args.period_text:
            period = parse_period(args.period_text, ctx.as_of)
            if period is None:
                raise InvalidInput(f"看不懂时间说法“{args.period_text}”，请改用起止日期")
            data["period"] = PeriodSpec(start=period.start, end=period.end, label=period.label)
        query = Query.model_validate(data)
        result = run_query(ctx, query)
        payload = {
            "period": result.period.to_json() if result.period else None,
            "as_of": result.as_of,
            "total": result.total,
            "rows": jsonable(result.rows),
        }
        return ToolResult(self.name, jsonable(args.model_dump()), payload, records(result))
