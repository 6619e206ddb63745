"""The tools the assistant may call: fixed, read-only queries plus arithmetic, scope-checked.

Every tool returns ``data`` (Python values: Decimal, date) and ``records``: one evidence record
per database row used (row records are capped at :data:`MAX_ROW_RECORDS` per kind, largest or
most relevant first) and one ``metric`` record per computed figure, whose ``inputs`` name the
records it was computed from.

>>> get_tool("get_cashflow").run(ctx, {"enterprise_id": "E0004", "months": 6})  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finassist.finance import analytics as an
from finassist.finance import calculator, catalogue, charts, directory, recommend
from finassist.finance import rows as rw
from finassist.finance.access import EnterpriseId, visible_enterprise
from finassist.finance.base import Tool, ToolContext, ToolResult, register
from finassist.finance.catalogue import load_catalogue
from finassist.finance.evidence import MAX_ROW_RECORDS, Evidence, fmt_money
from finassist.finance.query import tool as query_tool

DEFAULT_MONTHS = 12
# Tools that live with their capability register when their module is imported; importing
# this module (as finassist.finance.base.get_tool does) makes every built-in tool available.
BUILTIN_TOOL_MODULES = (catalogue, directory, recommend, calculator, charts, query_tool)

# -- shared argument models ------------------------------------------------------------------------


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnterpriseArgs(_Args):
    """Arguments of tools about one enterprise."""

    enterprise_id: EnterpriseId


class WindowArgs(EnterpriseArgs):
    """One enterprise and a window of recent calendar months."""

    months: int = Field(12, ge=1, le=24, description="统计最近几个自然月（含当月），1–24，默认 12")


def _period(window: an.Window) -> str:
    return f"{window.start} 至 {window.end}"


# -- tools -----------------------------------------------------------------------------------------


@register
class GetEnterpriseProfile(Tool):
    """Registration data of an enterprise and its relationships with core enterprises."""

    name = "get_enterprise_profile"
    description = (
        "查询企业基本信息（统一社会信用代码、角色、行业、地区、评级、注册资本、成立日期），"
        "以及它与核心企业或上下游的合作关系和账期。"
    )
    Args = EnterpriseArgs

    def execute(self, ctx: ToolContext, args: EnterpriseArgs) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        ev = Evidence(ctx, self.name)
        ev.enterprise(row)
        partners = rw.partners(ctx, row.id)  # a core has hundreds: names come in the same query
        rel_ids = ev.relationships(r for r, _ in partners)
        # The count as a figure of its own: citing it needs no copy of the whole list.
        ev.metric(row.id, "relationship_count", len(partners), rel_ids)
        relationships = []
        for r, name in partners:
            as_core = r.core_id == row.id
            other = r.counterparty_id if as_core else r.core_id
            relationships.append(
                {
                    "counterparty_id": other,
                    "counterparty_name": name or other,
                    "kind": r.kind,
                    "payment_terms_days": r.payment_terms_days,
                    "since": r.since,
                    "as": "core" if as_core else "counterparty",
                }
            )
        fields = ("id", "name", "short_name", "uscc", "role", "industry", "region", "rating")
        profile: dict[str, Any] = {key: getattr(row, key) for key in fields}
        profile["registered_capital"] = row.registered_capital
        profile["established"] = row.established
        data = {
            "enterprise": profile,
            "relationships": relationships,
            "relationship_count": len(relationships),
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetOutstandingInvoices(Tool):
    """Unpaid and partly paid invoices, most overdue first."""

    name = "get_outstanding_invoices"
    description = (
        "查询企业未结清（未付或部分支付）的发票：应收（企业为销方）或应付（企业为购方），"
        "含未结清余额、逾期笔数与逾期金额，按逾期天数从多到少排列。"
    )

    class Args(EnterpriseArgs):
        side: Literal["receivable", "payable"] = Field(
            "receivable",
            description="receivable 为应收（企业为销方），payable 为应付（企业为购方）",
        )
        limit: int = Field(20, ge=1, le=100, description="列出的发票数上限，1–100，默认 20")

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        # Listed by due date: the overdue ones first, most days overdue first.
        out = an.outstanding(ctx, row.id, ctx.as_of, args.side, limit=args.limit)
        listed = out.invoices
        ev = Evidence(ctx, self.name, max_rows=args.limit)
        ev.enterprise(row)
        ids = ev.invoices(listed)
        late_ids = ids[: sum(1 for r in listed if r.due_date < ctx.as_of)]
        other = "buyer_id" if args.side == "receivable" else "seller_id"
        names = ev.names(getattr(r, other) for r in listed)
        side, eid, as_of = args.side, row.id, ctx.as_of
        ev.metric(eid, f"{side}_outstanding", out.total, ids, count=out.count)
        ev.metric(eid, f"{side}_overdue_count", out.overdue_count, late_ids, as_of=as_of)
        ev.metric(eid, f"{side}_overdue_outstanding", out.overdue_total, late_ids, as_of=as_of)
        invoices = [
            {
                "invoice_no": r.invoice_no,
                "counterparty_id": getattr(r, other),
                "counterparty_name": names.get(getattr(r, other), getattr(r, other)),
                "amount": r.amount,
                "tax": r.tax,
                "paid_amount": r.paid_amount,
                "outstanding": r.outstanding,
                "issue_date": r.issue_date,
                "due_date": r.due_date,
                "days_overdue": r.days_overdue(ctx.as_of),
                "status": r.status,
            }
            for r in listed
        ]
        data = {
            "side": side,
            "as_of": ctx.as_of,
            "count": out.count,
            "total_outstanding": out.total,
            "overdue_count": out.overdue_count,
            "overdue_outstanding": out.overdue_total,
            "invoices": invoices,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetCashflow(Tool):
    """Inflow and outflow of payments by month."""

    name = "get_cashflow"
    description = (
        "查询企业在最近若干个自然月（或若干天）内的现金流：收款（流入）、付款（流出）和净额，"
        "并按月列出。"
    )

    class Args(EnterpriseArgs):
        months: int | None = Field(None, ge=1, le=24, description="最近几个自然月（含当月），1–24")
        days: int | None = Field(None, ge=1, le=730, description="或：最近多少天，1–730")

        @model_validator(mode="after")
        def _one_window(self) -> GetCashflow.Args:
            if self.months is not None and self.days is not None:
                raise ValueError("months 与 days 只能二选一")
            return self

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        if args.days is not None:
            window = an.Window.last_days(ctx.as_of, args.days)
        else:
            window = an.Window.last_months(ctx.as_of, args.months or DEFAULT_MONTHS)
        flow = an.cash_flow(ctx, row.id, window)
        ev = Evidence(ctx, self.name)
        ev.enterprise(row)
        ids = ev.payments(flow.largest)
        period = _period(window)
        months = [dict(vars(m)) for m in flow.months]
        table = "；".join(
            f"{m.month} 流入 {fmt_money(m.inflow)}、流出 {fmt_money(m.outflow)}"
            for m in flow.months
        )
        ev.metric(row.id, "cash_inflow", flow.inflow, ids, period=period, count=flow.inflow_count)
        ev.metric(
            row.id, "cash_outflow", flow.outflow, ids, period=period, count=flow.outflow_count
        )
        ev.metric(row.id, "cash_net", flow.net, ids, period=period)
        ev.metric(row.id, "cash_by_month", flow.net, ids, months=table, extra={"months": months})
        data = {
            "start": window.start,
            "end": window.end,
            "inflow": flow.inflow,
            "outflow": flow.outflow,
            "net": flow.net,
            "inflow_count": flow.inflow_count,
            "outflow_count": flow.outflow_count,
            "months": months,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetPaymentBehavior(Tool):
    """How the enterprise is paid (DSO, punctuality), its early-payment requests and overdue."""

    name = "get_payment_behavior"
    description = (
        "查询企业作为销方的回款表现：平均回款天数（按金额加权）、提前/按期/逾期付款笔数、"
        "平均逾期天数、提前回款申请次数及涉及月份数、当前逾期应收与逾期率。"
    )
    Args = WindowArgs

    def execute(self, ctx: ToolContext, args: WindowArgs) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        window = an.Window.last_months(ctx.as_of, args.months)
        pb = an.payment_behavior(ctx, row.id, window)
        od = an.overdue(ctx, row.id, ctx.as_of, window)
        ev = Evidence(ctx, self.name)
        ev.enterprise(row)
        paid_ids = ev.invoices(pb.paid_invoices)  # most recently paid first
        request_ids = ev.financing(pb.early_payment_financing)
        late_ids = ev.invoices(od.invoices)
        period, tol, eid = _period(window), an.EARLY_TOLERANCE_DAYS, row.id
        ev.metric(eid, "dso_days", pb.dso_days, paid_ids, period=period, count=pb.paid_count)
        ev.metric(eid, "paid_count", pb.paid_count, paid_ids, period=period)
        ev.metric(eid, "paid_early", pb.paid_early, paid_ids, tolerance=tol)
        ev.metric(eid, "paid_on_time", pb.paid_on_time, paid_ids, tolerance=tol)
        ev.metric(eid, "paid_late", pb.paid_late, paid_ids)
        ev.metric(eid, "avg_days_late", pb.avg_days_late, paid_ids)
        ev.metric(
            eid, "early_payment_requests", pb.early_payment_requests, request_ids, period=period
        )
        ev.metric(
            eid,
            "months_with_early_payment_request",
            pb.months_with_early_payment_request,
            request_ids,
            period=period,
        )
        ev.metric(eid, "overdue_count", od.overdue_count, late_ids, as_of=ctx.as_of)
        ev.metric(eid, "overdue_outstanding", od.overdue_outstanding, late_ids)
        ev.metric(eid, "overdue_rate", od.overdue_rate, late_ids, total=od.total_outstanding)
        data = {
            "start": window.start,
            "end": window.end,
            "dso_days": pb.dso_days,
            "paid_count": pb.paid_count,
            "paid_early": pb.paid_early,
            "paid_on_time": pb.paid_on_time,
            "paid_late": pb.paid_late,
            "avg_days_late": pb.avg_days_late,
            "early_payment_requests": pb.early_payment_requests,
            "months_with_early_payment_request": pb.months_with_early_payment_request,
            "overdue_count": od.overdue_count,
            "overdue_outstanding": od.overdue_outstanding,
            "overdue_rate": od.overdue_rate,
            "total_outstanding": od.total_outstanding,
            "overdue_share_of_invoiced": od.overdue_share_of_invoiced,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetConcentration(Tool):
    """Customer (sales) or supplier (purchases) concentration by invoiced amount."""

    name = "get_concentration"
    description = (
        "查询企业的客户集中度（sales：按购方）或供应商集中度（purchases：按销方）："
        "开票金额（不含税）前五大交易对手及占比、第一大占比、前五大占比和赫芬达尔指数。"
    )

    class Args(WindowArgs):
        side: Literal["sales", "purchases"] = Field(
            "sales", description="sales 为销售端（客户集中度），purchases 为采购端（供应商集中度）"
        )

    def execute(self, ctx: ToolContext, args: Args) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        window = an.Window.last_months(ctx.as_of, args.months)
        conc = an.concentration(ctx, row.id, window, args.side)
        ev = Evidence(ctx, self.name)
        ev.enterprise(row)
        ids = ev.invoices(conc.largest)
        top = conc.counterparties[:5]
        names = ev.names(c.counterparty_id for c in top)
        s, period, eid = args.side, _period(window), row.id
        ev.metric(eid, f"{s}_total", conc.total, ids, period=period, count=len(conc.counterparties))
        for c in top:
            ev.metric(
                eid,
                f"{s}_share",
                c.share,
                ids,
                suffix=c.counterparty_id,
                name=names.get(c.counterparty_id, c.counterparty_id),
                amount=c.amount,
                total=conc.total,
                count=c.invoice_count,
            )
        ev.metric(eid, f"{s}_top1_share", conc.top1_share, ids, period=period)
        ev.metric(eid, f"{s}_top5_share", conc.top5_share, ids, period=period)
        ev.metric(eid, f"{s}_hhi", conc.hhi, ids)
        top_items = [
            {
                "counterparty_id": c.counterparty_id,
                "counterparty_name": names.get(c.counterparty_id, c.counterparty_id),
                "amount": c.amount,
                "share": c.share,
                "invoice_count": c.invoice_count,
            }
            for c in top
        ]
        data = {
            "side": s,
            "start": window.start,
            "end": window.end,
            "total": conc.total,
            "counterparty_count": len(conc.counterparties),
            "top": top_items,
            "top1_share": conc.top1_share,
            "top5_share": conc.top5_share,
            "hhi": conc.hhi,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetRiskSignals(Tool):
    """Risk events (litigation, execution, tax, penalties) and abnormal invoices."""

    name = "get_risk_signals"
    description = (
        "查询企业的风险信号：涉诉、被执行、税务违法、行政处罚等风险事件，近 12 个月金额超过"
        "中位数 10 倍的异常发票，以及综合风险等级（高/中/低）。"
    )
    Args = EnterpriseArgs

    def execute(self, ctx: ToolContext, args: EnterpriseArgs) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        events = rw.risk_events(ctx, row.id)  # newest first
        window = an.Window.last_months(ctx.as_of, DEFAULT_MONTHS)
        abnormal = an.abnormal_invoices(ctx, row.id, window)
        signals = an.risk_signals(events, abnormal)
        ev = Evidence(ctx, self.name, max_rows=max(len(events), MAX_ROW_RECORDS))
        ev.enterprise(row)
        event_ids = ev.risk_events(sorted(events, key=lambda e: e.status != "open"))
        abnormal_ids = ev.invoices(abnormal.invoices)
        ev.metric(
            row.id,
            "abnormal_invoice_count",
            len(abnormal.invoices),
            abnormal_ids,
            period=_period(window),
            median=abnormal.median_amount,
            threshold=abnormal.threshold,
            count=abnormal.considered,
        )
        ev.metric(row.id, "open_risk_events", signals.open_events, event_ids)
        ev.metric(row.id, "risk_level", signals.level, event_ids + abnormal_ids)
        data = {
            "events": [dict(vars(e)) for e in events],
            "abnormal_invoices": [
                {
                    "invoice_no": r.invoice_no,
                    "buyer_id": r.buyer_id,
                    "amount": r.amount,
                    "issue_date": r.issue_date,
                    "multiple_of_median": an.tenth(r.amount / abnormal.median_amount),
                }
                for r in abnormal.invoices
            ],
            "median_invoice_amount": abnormal.median_amount,
            "counts_by_kind": signals.counts_by_kind,
            "open_counts_by_kind": signals.open_counts_by_kind,
            "on_execution_list": signals.on_execution_list,
            "has_litigation": signals.has_litigation,
            "risk_level": signals.level,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetFinancingHistory(Tool):
    """Financing the enterprise applied for, with amounts, rates and status."""

    name = "get_financing_history"
    description = (
        "查询企业历次融资申请：产品、银行、金额、利率、起止日期和状态，以及存续金额与逾期笔数。"
    )
    Args = EnterpriseArgs

    def execute(self, ctx: ToolContext, args: EnterpriseArgs) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        items = rw.financing_history(ctx, row.id)
        ev = Evidence(ctx, self.name, max_rows=max(len(items), MAX_ROW_RECORDS))
        ev.enterprise(row)
        ids = ev.financing(items)
        active = [f for f in items if f.status == "active"]
        overdue = [f for f in items if f.status == "overdue"]
        active_amount = an.money(sum((f.amount for f in active), an.ZERO))
        ev.metric(row.id, "financing_count", len(items), ids)
        ev.metric(
            row.id,
            "financing_active_amount",
            active_amount,
            _ids("financing", active),
            count=len(active),
        )
        ev.metric(row.id, "financing_overdue_count", len(overdue), _ids("financing", overdue))
        catalogue = load_catalogue()
        keys = (
            "id",
            "product",
            "core_id",
            "bank",
            "amount",
            "rate",
            "start_date",
            "end_date",
            "status",
        )
        data = {
            "items": [
                {**{k: getattr(f, k) for k in keys}, "product_name": catalogue.name_of(f.product)}
                for f in items
            ],
            "active_amount": active_amount,
            "overdue_count": len(overdue),
            "count": len(items),
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


@register
class GetOpenOrders(Tool):
    """Open orders the enterprise must fund, against its recent monthly inflow."""

    name = "get_open_orders"
    description = (
        "查询企业未交付的订单（供应商看其承接的销售订单，经销商看其下达的采购订单，"
        "按待筹资金额列出最大的 20 张）、待筹资金额、近 6 个月月均回款和资金缺口。"
    )
    Args = EnterpriseArgs

    def execute(self, ctx: ToolContext, args: EnterpriseArgs) -> ToolResult:
        row = visible_enterprise(ctx, args.enterprise_id)
        oo = an.open_orders(ctx, row.id, row.role, ctx.as_of, MAX_ROW_RECORDS)
        listed = oo.orders  # the largest amounts to fund first
        ev = Evidence(ctx, self.name)
        ev.enterprise(row)
        ids = ev.orders(listed)
        other = "buyer_id" if oo.side == "seller" else "seller_id"
        names = ev.names(getattr(o, other) for o in listed)
        eid = row.id
        ev.metric(eid, "open_order_amount", oo.open_amount, ids, count=oo.count)
        ev.metric(
            eid,
            "avg_monthly_inflow",
            oo.avg_monthly_inflow,
            period=_period(oo.inflow_window),
            months=an.INFLOW_WINDOW_MONTHS,
        )
        ev.metric(eid, "funding_gap", oo.funding_gap, ids, horizon=an.FUNDING_HORIZON_MONTHS)
        ev.metric(eid, "open_order_months", oo.open_order_months, ids)
        orders = [
            {
                "order_no": o.order_no,
                "counterparty_id": getattr(o, other),
                "counterparty_name": names.get(getattr(o, other), getattr(o, other)),
                "amount": o.amount,
                "prepaid_amount": o.prepaid_amount,
                "open_amount": o.open_amount,
                "order_date": o.order_date,
                "delivery_date": o.delivery_date,
            }
            for o in listed
        ]
        data = {
            "side": oo.side,
            "count": oo.count,
            "orders": orders,
            "open_amount": oo.open_amount,
            "avg_monthly_inflow": oo.avg_monthly_inflow,
            "funding_gap": oo.funding_gap,
            "open_order_months": oo.open_order_months,
            "core_order_amount": oo.core_order_amount,
        }
        return ToolResult(self.name, args.model_dump(), data, ev.records)


def _ids(kind: str, rows: list[rw.FinancingRow]) -> list[str]:
    return [f"{kind}:{r.id}" for r in rows]
