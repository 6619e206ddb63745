"""Offline answer composers, one per intent, registered by name.

Each handler calls finance tools, then fills the Chinese templates with the values the tools
returned, citing the evidence that holds each value. Nothing here invents a figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finassist.assistant.compose import (
    EvidenceBook,
    count,
    days,
    iso,
    money,
    percent,
    template,
)
from finassist.assistant.slots import window_label
from finassist.errors import add_unique
from finassist.finance.base import ToolContext, ToolResult, get_tool
from finassist.finance.evidence import (
    EVENT_STATUS,
    FINANCING_STATUS,
    RISK_KIND,
    ROLE,
    SEVERITY,
)
from finassist.finance.query.tool import chain_financing_queries, row_records
from finassist.report.build import HIGH_TOP1_SHARE

MAX_LISTED = 5


@dataclass
class TurnInput:
    """What a handler gets: the tool context, the company in focus, the window and the text."""

    tools: ToolContext
    text: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    window: dict[str, int] = field(default_factory=dict)
    retriever: Any = None  # assistant.knowledge.Retriever: knowledge base and web search
    directory: Any = None  # finance.directory.EnterpriseDirectory of the caller, this turn
    extras: dict[str, Any] = field(default_factory=dict)  # what an understander parsed
    book: EvidenceBook = field(default_factory=EvidenceBook)
    results: list[ToolResult] = field(default_factory=list)

    def call(self, tool: str, **args: Any) -> ToolResult:
        """Run a tool as the caller and keep its result."""
        result = get_tool(tool).run(self.tools, args)
        self.results.append(result)
        return result

    @property
    def name(self) -> str:
        return self.enterprise_name or ""


@dataclass
class Answer:
    """A composed answer: lines of text and an optional recommendation JSON."""

    lines: list[str]
    recommendation: dict[str, Any] | None = None
    chart: dict[str, Any] | None = None
    calculation: dict[str, Any] | None = None  # the calculator's JSON (finance/calculator.py)

    @property
    def text(self) -> str:
        return "\n".join(line for line in self.lines if line)


Handler = Callable[[TurnInput], Answer]
HANDLERS: dict[str, Handler] = {}


def handler(intent: str) -> Callable[[Handler], Handler]:
    """Register a composer for an intent."""

    def wrap(fn: Handler) -> Handler:
        add_unique(HANDLERS, intent, fn, "意图处理器")
        return fn

    return wrap


def _fmt(path: str, **values: Any) -> str:
    return template(path).format(**values)


def _role(role: str) -> str:
    return ROLE.get(role, role)


# -- 核心企业资质与现金流 -------------------------------------------------------------------------


@handler("profile")
def profile(turn: TurnInput) -> Answer:
    result = turn.call("get_enterprise_profile", enterprise_id=turn.enterprise_id)
    ent = result.data["enterprise"]
    lines = [
        _fmt(
            "profile.basic",
            name=ent["name"],
            role=_role(ent["role"]),
            industry=ent["industry"],
            region=ent["region"],
            rating=ent["rating"],
            capital=money(ent["registered_capital"]),
            established=iso(ent["established"]),
            uscc=ent["uscc"],
            cite=turn.book.cite_records(r for r in result.records if r.kind == "enterprise"),
        )
    ]
    relations = result.data.get("relationships", [])
    if relations:
        shown = relations[:MAX_LISTED]
        items = "、".join(
            _fmt(
                "profile.relation_item",
                name=r["counterparty_name"],
                # The partner of a supplier or distributor is its core enterprise; "kind" is
                # the role of the counterparty side of the relationship.
                kind=_role("core" if r.get("as") == "counterparty" else r["kind"]),
                terms=r["payment_terms_days"],
            )
            for r in shown
        )
        shown_ids = {r["counterparty_id"] for r in shown}
        cite = turn.book.cite_records(
            r
            for r in result.records
            if r.kind == "relationship"
            and shown_ids & {r.data.get("core_id"), r.data.get("counterparty_id")}
        ) + turn.book.cite_value(result, len(relations), kinds=("metric",))
        lines.append(_fmt("profile.relations", n=count(len(relations)), items=items, cite=cite))
    lines.extend(cashflow(turn).lines[:1])
    return Answer(lines)


@handler("cashflow")
def cashflow(turn: TurnInput) -> Answer:
    window = turn.window or {"months": 12}
    result = turn.call("get_cashflow", enterprise_id=turn.enterprise_id, **window)
    data = result.data
    lines = [
        _fmt(
            "cashflow.summary",
            name=turn.name,
            window=window_label(window),
            start=iso(data["start"]),
            end=iso(data["end"]),
            inflow=money(data["inflow"]),
            outflow=money(data["outflow"]),
            net_label="净流入" if Decimal(data["net"]) >= 0 else "净流出",
            net=money(abs(Decimal(data["net"]))),
            cite=turn.book.cite_value(
                result, data["inflow"], data["outflow"], data["net"], data["start"], data["end"]
            ),
        )
    ]
    months = data.get("months", [])
    if len(months) > 1:
        lines.append(template("cashflow.months_head"))
        for month in months[-12:]:
            lines.append(
                _fmt(
                    "cashflow.month",
                    month=month["month"],
                    inflow=money(month["inflow"]),
                    outflow=money(month["outflow"]),
                    net=money(month["net"]),
                    cite=turn.book.cite_value(result, month["net"], kinds=("metric",)),
                )
            )
        negative = sum(1 for m in months if Decimal(m["net"]) < 0)
        if negative:
            lines.append(_fmt("cashflow.trend_negative", n=count(negative)))
    return Answer(lines)


@handler("invoices")
def invoices(turn: TurnInput) -> Answer:
    side = (
        "payable"
        if any(w in turn.text for w in ("应付", "欠别人", "欠供应商", "要付"))
        else "receivable"
    )
    side_label = "应付" if side == "payable" else "应收"
    result = turn.call("get_outstanding_invoices", enterprise_id=turn.enterprise_id, side=side)
    data = result.data
    if not data["count"]:
        return Answer(
            [
                _fmt(
                    "invoices.none",
                    name=turn.name,
                    side_label=side_label,
                    cite=turn.book.cite_tool(result),
                )
            ]
        )
    lines = [
        _fmt(
            "invoices.summary",
            name=turn.name,
            side_label=side_label,
            count=count(data["count"]),
            total=money(data["total_outstanding"]),
            overdue_count=count(data["overdue_count"]),
            overdue=money(data["overdue_outstanding"]),
            cite=turn.book.cite_value(result, data["total_outstanding"], data["count"]),
            cite2=turn.book.cite_value(result, data["overdue_outstanding"], data["overdue_count"]),
        ),
        template("invoices.head"),
    ]
    by_no = {r.data.get("invoice_no"): r for r in result.records if r.kind == "invoice"}
    for inv in data["invoices"][:MAX_LISTED]:
        overdue = (
            _fmt("invoices.overdue", days=inv["days_overdue"]) if inv["days_overdue"] > 0 else ""
        )
        record = by_no.get(inv["invoice_no"])
        lines.append(
            _fmt(
                "invoices.item",
                invoice_no=inv["invoice_no"],
                counterparty=inv["counterparty_name"],
                outstanding=money(inv["outstanding"]),
                issue_date=iso(inv["issue_date"]),
                due_date=iso(inv["due_date"]),
                overdue=overdue,
                cite=turn.book.cite_records([record]) if record else turn.book.cite_tool(result),
            )
        )
    return Answer(lines)


# -- 资金需求识别 -----------------------------------------------------------------------------------


@handler("payment_behavior")
def payment_behavior(turn: TurnInput) -> Answer:
    window = turn.window if "months" in turn.window else {"months": 12}
    result = turn.call("get_payment_behavior", enterprise_id=turn.enterprise_id, **window)
    d = result.data
    lines = [
        _fmt(
            "payment_behavior.summary",
            name=turn.name,
            window=window_label(window),
            paid=count(d["paid_count"]),
            dso=days(d["dso_days"]),
            early=count(d["paid_early"]),
            on_time=count(d["paid_on_time"]),
            late=count(d["paid_late"]),
            cite=turn.book.cite_value(
                result,
                d["dso_days"],
                d["paid_count"],
                d["paid_early"],
                d["paid_on_time"],
                d["paid_late"],
            ),
        )
    ]
    if d["early_payment_requests"]:
        lines.append(
            _fmt(
                "payment_behavior.early_requests",
                requests=count(d["early_payment_requests"]),
                months=count(d["months_with_early_payment_request"]),
                cite=turn.book.cite_value(
                    result, d["early_payment_requests"], d["months_with_early_payment_request"]
                ),
            )
        )
    lines.append(
        _fmt(
            "payment_behavior.overdue",
            count=count(d["overdue_count"]),
            amount=money(d["overdue_outstanding"]),
            rate=percent(d["overdue_rate"]),
            cite=turn.book.cite_value(
                result, d["overdue_outstanding"], d["overdue_rate"], d["overdue_count"]
            ),
        )
    )
    return Answer(lines)


@handler("funding_need")
def funding_need(turn: TurnInput) -> Answer:
    behavior = turn.call("get_payment_behavior", enterprise_id=turn.enterprise_id, months=12)
    orders = turn.call("get_open_orders", enterprise_id=turn.enterprise_id)
    receivable = turn.call(
        "get_outstanding_invoices", enterprise_id=turn.enterprise_id, side="receivable"
    )
    lines = [_fmt("funding_need.head", name=turn.name)]
    b, o, r = behavior.data, orders.data, receivable.data
    signals = 0
    if b["months_with_early_payment_request"] >= 3:
        signals += 1
        lines.append(
            _fmt(
                "funding_need.early",
                requests=count(b["early_payment_requests"]),
                months=count(b["months_with_early_payment_request"]),
                cite=turn.book.cite_value(
                    behavior, b["early_payment_requests"], b["months_with_early_payment_request"]
                ),
            )
        )
    if Decimal(o.get("funding_gap") or 0) > 0:
        signals += 1
        lines.append(
            _fmt(
                "funding_need.orders",
                open=money(o["open_amount"]),
                inflow=money(o["avg_monthly_inflow"]),
                gap=money(o["funding_gap"]),
                cite=turn.book.cite_value(
                    orders, o["open_amount"], o["avg_monthly_inflow"], o["funding_gap"]
                ),
            )
        )
    if r["overdue_count"]:
        signals += 1
        lines.append(
            _fmt(
                "funding_need.receivable",
                total=money(r["total_outstanding"]),
                overdue=money(r["overdue_outstanding"]),
                cite=turn.book.cite_value(receivable, r["total_outstanding"]),
                cite2=turn.book.cite_value(receivable, r["overdue_outstanding"]),
            )
        )
    if not signals:
        lines.append(_fmt("funding_need.none", cite=turn.book.cite_tool(behavior)))
    lines.append(template("funding_need.next"))
    return Answer(lines)


# -- 数据服务 -----------------------------------------------------------------------------------


@handler("concentration")
def concentration(turn: TurnInput) -> Answer:
    purchases = any(w in turn.text for w in ("供应商", "采购", "上游"))
    window = turn.window if "months" in turn.window else {"months": 12}
    side = "purchases" if purchases else "sales"
    result = turn.call("get_concentration", enterprise_id=turn.enterprise_id, side=side, **window)
    d = result.data
    if not Decimal(d["total"]):
        return Answer(
            [
                _fmt(
                    "concentration.none",
                    name=turn.name,
                    window=window_label(window),
                    side_label="采购" if purchases else "销售",
                    cite=turn.book.cite_value(result, d["total"]),
                )
            ]
        )
    lines = [
        _fmt(
            "concentration.summary",
            name=turn.name,
            window=window_label(window),
            side_label="采购" if purchases else "销售",
            party="供应商" if purchases else "客户",
            total=money(d["total"]),
            top1=percent(d["top1_share"]),
            top5=percent(d["top5_share"]),
            cite=turn.book.cite_value(result, d["total"], d["top1_share"], d["top5_share"]),
        )
    ]
    for item in d["top"][:MAX_LISTED]:
        lines.append(
            _fmt(
                "concentration.item",
                name=item["counterparty_name"],
                amount=money(item["amount"]),
                share=percent(item["share"]),
                cite=turn.book.cite_value(result, item["amount"], item["share"]),
            )
        )
    if Decimal(d["top1_share"]) >= HIGH_TOP1_SHARE:
        lines.append(template("concentration.high"))
    return Answer(lines)


# -- 风控与合规 / 贷后跟踪 ---------------------------------------------------------------------------


@handler("risk")
def risk(turn: TurnInput) -> Answer:
    result = turn.call("get_risk_signals", enterprise_id=turn.enterprise_id)
    d = result.data
    events = d["events"]
    if not events and not d["abnormal_invoices"]:
        return Answer([_fmt("risk.none", name=turn.name, cite=turn.book.cite_tool(result))])
    by_id = {r.data.get("id"): r for r in result.records if r.kind == "risk_event"}
    lines = [
        _fmt(
            "risk.summary",
            name=turn.name,
            level=d["risk_level"],
            n=count(len(events)),
            cite=turn.book.cite_tool(result),
        )
    ]
    for event in events[:MAX_LISTED]:
        record = by_id.get(event["id"])
        amount = f"，涉及金额 {money(event['amount'])}" if event.get("amount") else ""
        lines.append(
            _fmt(
                "risk.event",
                date=iso(event["event_date"]),
                title=event["title"],
                kind=RISK_KIND.get(event["kind"], event["kind"]),
                severity=SEVERITY.get(event["severity"], event["severity"]),
                amount=amount,
                status=EVENT_STATUS.get(event["status"], event["status"]),
                cite=turn.book.cite_records([record]) if record else turn.book.cite_tool(result),
            )
        )
    if d["abnormal_invoices"]:
        invoices_by_no = {
            r.data.get("invoice_no"): r for r in result.records if r.kind == "invoice"
        }
        items = "、".join(
            _fmt(
                "risk.abnormal_item",
                invoice_no=inv["invoice_no"],
                amount=money(inv["amount"]),
                cite=(
                    turn.book.cite_records([invoices_by_no[inv["invoice_no"]]])
                    if inv["invoice_no"] in invoices_by_no
                    else turn.book.cite_tool(result)
                ),
            )
            for inv in d["abnormal_invoices"][:MAX_LISTED]
        )
        lines.append(_fmt("risk.abnormal", items=items))
    if d["on_execution_list"]:
        lines.append(template("risk.execution"))
    return Answer(lines)


def _core_chain_financing(turn: TurnInput, own_cite: str) -> Answer | None:
    """A core enterprise applies for no chain financing: its suppliers and dealers do, with it
    as the core. "暂无融资记录" would be true and misleading, so say what there is under it
    (the caller's clients only, as every query is)."""
    entry = (
        turn.directory.get(turn.enterprise_id) if turn.directory and turn.enterprise_id else None
    )
    if entry is None or entry.role != "core":
        return None
    total_args, late_args = chain_financing_queries(entry.id, turn.tools.as_of)
    result = turn.call("query_data", **total_args)
    rows = result.data["rows"]
    if not rows or not rows[0]["financing_count"]:
        return None
    overdue = turn.call("query_data", **late_args)
    late = overdue.data["rows"][0]["financing_count"] if overdue.data["rows"] else 0
    return Answer(
        [
            _fmt(
                "post_loan.core",
                name=turn.name,
                own=own_cite,
                count=count(rows[0]["financing_count"]),
                balance=money(Decimal(str(rows[0]["financing_balance"]))),
                cite=turn.book.cite_records(row_records(result)),
                overdue=count(late),
                cite2=turn.book.cite_records(row_records(overdue)) or turn.book.cite_tool(overdue),
            )
        ]
    )


@handler("post_loan")
def post_loan(turn: TurnInput) -> Answer:
    result = turn.call("get_financing_history", enterprise_id=turn.enterprise_id)
    d = result.data
    if not d["count"]:
        chain = _core_chain_financing(turn, turn.book.cite_tool(result))
        if chain is not None:
            return chain
        return Answer([_fmt("post_loan.none", name=turn.name, cite=turn.book.cite_tool(result))])
    lines = [
        _fmt(
            "post_loan.summary",
            name=turn.name,
            count=count(d["count"]),
            active=money(d["active_amount"]),
            overdue=count(d["overdue_count"]),
            cite=turn.book.cite_value(result, d["active_amount"], d["count"], d["overdue_count"]),
        )
    ]
    by_id = {r.data.get("id"): r for r in result.records if r.kind == "financing"}
    for item in d["items"][:MAX_LISTED]:
        record = by_id.get(item["id"])
        lines.append(
            _fmt(
                "post_loan.item",
                product=item["product_name"],
                bank=item["bank"],
                amount=money(item["amount"]),
                rate=item["rate"],
                start=iso(item["start_date"]),
                end=iso(item["end_date"]),
                status=FINANCING_STATUS.get(item["status"], item["status"]),
                cite=turn.book.cite_records([record]) if record else turn.book.cite_tool(result),
            )
        )
    return Answer(lines)
