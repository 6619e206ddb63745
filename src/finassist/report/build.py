"""Gather the 现金流健康度报告 of one enterprise: figures, each with its evidence, and charts.

The report is built from the same finance tools the assistant calls, as the caller (a manager
gets a report only on his own clients). Every figure keeps the numbers of the evidence records
that prove it; the evidence list closes the report. :func:`health_facts` is the one place that
decides which tool outputs a health report states and what they call for watching: the CLI's
report (:func:`build_report`), the assistant's report turn and the server's report endpoint
all take their figures and conclusion from it.

>>> report = build_report(ToolContext(db, Caller("M001"), as_of), "E0005")  # doctest: +SKIP
>>> report.sections[0].figures[0].label                                    # doctest: +SKIP
'近12个月开票销售额（不含税）'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from finassist.finance.base import Record, ToolContext, ToolResult, get_tool
from finassist.finance.charts import Company, FontMissing, plan_chart, render, resolve
from finassist.finance.evidence import EVENT_STATUS, FINANCING_STATUS, RISK_KIND
from finassist.finance.figures import days, money, percent, unit_value
from finassist.finance.query.tool import chain_financing_queries

MONTHS = 12
MAX_EVENTS = 10
MAX_FINANCING = 10
HIGH_OVERDUE_RATE = Decimal("0.1")
HIGH_TOP1_SHARE = Decimal("0.7")
FREQUENT_EARLY_MONTHS = 3


@dataclass(frozen=True)
class HealthFacts:
    """The tool outputs a health report states (last 12 months), and what they call for."""

    flow: ToolResult
    behavior: ToolResult
    concentration: ToolResult
    risk: ToolResult

    @property
    def watch(self) -> list[str]:
        """What needs watching, in the report's words (empty: nothing)."""
        b, cd, rd = self.behavior.data, self.concentration.data, self.risk.data
        items = []
        if Decimal(b["overdue_rate"]) >= HIGH_OVERDUE_RATE:
            items.append("应收逾期率偏高")
        if b["months_with_early_payment_request"] >= FREQUENT_EARLY_MONTHS:
            items.append("频繁申请提前回款")
        if Decimal(cd["top1_share"]) >= HIGH_TOP1_SHARE:
            items.append("客户集中度偏高")
        if rd["on_execution_list"]:
            items.append("已列入被执行人名单，融资业务须转人工审批")
        elif any(e["status"] == "open" for e in rd["events"]):
            items.append("存在未结风险事件")
        return items

    @property
    def conclusion(self) -> str:
        """One sentence: the items to watch, or that the cash flow is healthy."""
        watch = self.watch
        if watch:
            return "需重点关注：" + "、".join(watch) + "。"
        return "整体现金流健康，回款及时，未见重大风险。"


def health_facts(call: Callable[..., ToolResult]) -> HealthFacts:
    """Run the health report's tools through ``call(tool, **args)`` (bound to one enterprise
    and caller; the assistant passes its turn's, so that the results become its evidence)."""
    return HealthFacts(
        call("get_cashflow", months=MONTHS),
        call("get_payment_behavior", months=MONTHS),
        call("get_concentration", months=MONTHS, side="sales"),
        call("get_risk_signals"),
    )


@dataclass
class Figure:
    """One stated figure: label, value as shown, and the numbers of its evidence."""

    label: str
    shown: str
    value: Any
    cites: list[int]


@dataclass
class Chart:
    """A chart in the report: title, SVG text (None when no Chinese font) and a note."""

    title: str
    svg: str | None
    note: str = ""


@dataclass
class Section:
    """A numbered part of the report."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # a table, first row the header
    notes: list[str] = field(default_factory=list)
    chart: Chart | None = None


@dataclass
class HealthReport:
    """The whole report, ready for a template."""

    enterprise_id: str
    name: str
    short_name: str
    role: str
    as_of: date
    manager_id: str
    sections: list[Section]
    evidence: list[Record]
    conclusion: str
    watch: list[str]


class _Citations:
    """Numbers evidence records in the order they are first cited."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._index: dict[str, int] = {}

    def cite(self, records: list[Record]) -> list[int]:
        numbers = []
        for record in records:
            if record.id not in self._index:
                self.records.append(record)
                self._index[record.id] = len(self.records)
            numbers.append(self._index[record.id])
        return sorted(set(numbers))

    def metric(self, result: ToolResult, eid: str, key: str) -> list[int]:
        """The metric record ``key`` of ``result`` (and the rows it was computed from, up to 3)."""
        wanted = f"metric:{eid}:{key}"
        found = [r for r in result.records if r.id == wanted]
        if not found:
            return self.cite([r for r in result.records if r.kind == "metric"][:1])
        inputs = set(found[0].data.get("inputs") or [])
        rows = [r for r in result.records if r.id in inputs][:3]
        return self.cite(found + rows)


def _figure(
    c: _Citations, result: ToolResult, eid: str, key: str, label: str, shown: str, value: Any = None
) -> Figure:
    """A figure citing the metric ``key``; ``value`` defaults to the tool's field of that name."""
    value = result.data.get(key) if value is None else value
    return Figure(label, shown, value, c.metric(result, eid, key))


def _chain_financing(ctx: ToolContext, c: _Citations, core_id: str) -> list[Figure]:
    """A core enterprise applies for no chain financing: the financing under it (its suppliers'
    and dealers', the caller's clients only), so the section does not read as "none"."""
    query = get_tool("query_data")
    total_args, late_args = chain_financing_queries(core_id, ctx.as_of)
    total = query.run(ctx, total_args)
    if not total.data["rows"] or not total.data["rows"][0]["financing_count"]:
        return []
    late = query.run(ctx, late_args)
    row, overdue = total.data["rows"][0], (late.data["rows"] or [{"financing_count": 0}])[0]
    cites = c.cite([r for r in total.records if r.kind == "metric"])
    late_cites = c.cite([r for r in late.records if r.kind == "metric"])
    balance = Decimal(str(row["financing_balance"]))
    return [
        Figure("以其为核心企业的融资笔数（名下客户申请）", f"{row['financing_count']} 笔",
               row["financing_count"], cites),
        Figure("以其为核心企业的融资余额", money(balance), balance, cites),
        Figure("其中逾期笔数", f"{overdue['financing_count']} 笔", overdue["financing_count"],
               late_cites),
    ]  # fmt: skip


def _draw(ctx: ToolContext, company: Company, view: str) -> Chart:
    spec = plan_chart("", [company], {"months": MONTHS}, view=view)
    data = resolve(spec, ctx)
    try:
        return Chart(spec.title, render(data).svg)
    except FontMissing as exc:
        return Chart(spec.title, None, str(exc))


def build_report(ctx: ToolContext, enterprise_id: str, *, charts: bool = True) -> HealthReport:
    """Run the tools for ``enterprise_id`` and lay the figures out in sections."""

    def call(tool: str, **args: Any) -> ToolResult:
        return get_tool(tool).run(ctx, {"enterprise_id": enterprise_id, **args})

    profile = call("get_enterprise_profile")
    ent = profile.data["enterprise"]
    eid = ent["id"]
    company = Company(eid, ent["short_name"] or ent["name"])
    facts = health_facts(call)
    flow, behavior, conc, risk = facts.flow, facts.behavior, facts.concentration, facts.risk
    financing = call("get_financing_history")
    rec = call("recommend_products")
    c = _Citations()
    c.cite([r for r in profile.records if r.kind == "enterprise"])
    b, cd, f, rd = behavior.data, conc.data, flow.data, risk.data

    scale = Section("一、交易规模")
    scale.figures = [
        _figure(
            c,
            conc,
            eid,
            "sales_total",
            "近12个月开票销售额（不含税）",
            money(cd["total"]),
            cd["total"],
        ),
        _figure(c, flow, eid, "cash_inflow", "近12个月资金流入", money(f["inflow"]), f["inflow"]),
        _figure(
            c, flow, eid, "cash_outflow", "近12个月资金流出", money(f["outflow"]), f["outflow"]
        ),
        _figure(c, flow, eid, "cash_net", "近12个月净现金流", money(f["net"]), f["net"]),
    ]
    negative = sum(1 for m in f["months"] if Decimal(m["net"]) < 0)
    if negative:
        scale.notes.append(f"近12个月中有 {negative} 个月为净流出。")
    if charts:
        scale.chart = _draw(ctx, company, "cashflow_trend")

    dso = Section("二、回款周期（DSO）")
    dso.figures = [
        _figure(c, behavior, eid, "dso_days", "平均回款天数（按金额加权）", days(b["dso_days"])),
        _figure(c, behavior, eid, "paid_count", "已回款发票", f"{b['paid_count']} 张"),
        _figure(c, behavior, eid, "paid_early", "提前付款", f"{b['paid_early']} 张"),
        _figure(c, behavior, eid, "paid_on_time", "按期付款", f"{b['paid_on_time']} 张"),
        _figure(c, behavior, eid, "paid_late", "逾期付款", f"{b['paid_late']} 张"),
        _figure(c, behavior, eid, "early_payment_requests", "提前回款申请",
                f"{b['early_payment_requests']} 次（覆盖 {b['months_with_early_payment_request']} 个月）"),
    ]  # fmt: skip

    overdue = Section("三、逾期情况")
    overdue.figures = [
        _figure(c, behavior, eid, "overdue_rate", "应收逾期率", percent(b["overdue_rate"])),
        _figure(c, behavior, eid, "overdue_outstanding", "逾期应收余额", money(b["overdue_outstanding"])),
        _figure(c, behavior, eid, "overdue_count", "逾期应收发票", f"{b['overdue_count']} 张"),
    ]  # fmt: skip

    concentration = Section("四、客户集中度")
    concentration.figures = [
        _figure(c, conc, eid, "sales_top1_share", "第一大客户占比", percent(cd["top1_share"]), cd["top1_share"]),
        _figure(c, conc, eid, "sales_top5_share", "前五大客户占比", percent(cd["top5_share"]), cd["top5_share"]),
        _figure(c, conc, eid, "sales_hhi", "赫芬达尔指数（HHI）", str(cd["hhi"]), cd["hhi"]),
    ]  # fmt: skip
    concentration.rows = [["客户", "开票金额（不含税）", "占比"]] + [
        [t["counterparty_name"], money(t["amount"]), percent(t["share"])] for t in cd["top"]
    ]
    if charts and cd["top"]:
        concentration.chart = _draw(ctx, company, "customer_share")

    signals = Section("五、风险信号")
    signals.figures = [
        Figure("综合风险等级", rd["risk_level"], rd["risk_level"], c.metric(risk, eid, "risk_level")),
        _figure(c, risk, eid, "open_risk_events", "未结风险事件", f"{len([e for e in rd['events'] if e['status'] == 'open'])} 条"),
        _figure(c, risk, eid, "abnormal_invoice_count", "异常大额发票", f"{len(rd['abnormal_invoices'])} 张"),
    ]  # fmt: skip
    if rd["events"]:
        signals.rows = [["日期", "事件", "类型", "状态"]] + [
            [str(e["event_date"]), e["title"], RISK_KIND.get(e["kind"], e["kind"]), EVENT_STATUS.get(e["status"], e["status"])]
            for e in rd["events"][:MAX_EVENTS]
        ]  # fmt: skip
        c.cite([r for r in risk.records if r.kind == "risk_event"][:MAX_EVENTS])

    history = Section("六、融资记录")
    fd = financing.data
    history.figures = [
        _figure(c, financing, eid, "financing_count", "融资笔数", f"{fd['count']} 笔", fd["count"]),
        _figure(c, financing, eid, "financing_active_amount", "在贷余额", money(fd["active_amount"]), fd["active_amount"]),
        _figure(c, financing, eid, "financing_overdue_count", "逾期笔数", f"{fd['overdue_count']} 笔", fd["overdue_count"]),
    ]  # fmt: skip
    if not fd["count"] and ent["role"] == "core":
        history.figures += _chain_financing(ctx, c, eid)
    if fd["items"]:
        history.rows = [["产品", "银行", "金额", "利率", "起止日期", "状态"]] + [
            [i["product_name"], i["bank"], money(i["amount"]), f"{i['rate']}%",
             f"{i['start_date']} 至 {i['end_date']}", FINANCING_STATUS.get(i["status"], i["status"])]
            for i in fd["items"][:MAX_FINANCING]
        ]  # fmt: skip

    advice = Section("七、融资建议")
    r = rec.data
    rec_cites = c.cite([x for x in rec.records if x.kind == "metric"][:6])
    if r.get("recommended_product"):
        low, high = r["recommended_rate_range"]
        advice.figures = [
            Figure(
                "推荐产品", str(r["recommended_product_name"]), r["recommended_product"], rec_cites
            ),
            Figure("建议额度", money(r["recommended_amount"]), r["recommended_amount"], rec_cites),
            Figure("参考利率区间", f"{low}%–{high}%", [low, high], rec_cites),
        ]
    advice.figures += [
        Figure("置信度", percent(Decimal(str(r["confidence"]))), r["confidence"], rec_cites),
        Figure(
            "风险评分", f"{r['risk_score']} 分（{r['risk_level']}）", r["risk_score"], rec_cites
        ),
    ]
    advice.rows = [["驱动因素", "取值", "权重"]] + [
        [d["name"], unit_value(d.get("value"), d.get("unit")), str(d["weight"])]
        for d in r.get("drivers", [])
    ]
    advice.notes = [n for n in (r.get("rationale"), *r.get("risk_reasons", [])) if n]
    if r.get("escalate_to_human"):
        advice.notes.append("需转人工审批：" + "；".join(r.get("escalation_reasons") or []))

    sections = [scale, dso, overdue, concentration, signals, history, advice]
    return HealthReport(eid, ent["name"], ent["short_name"], ent["role"], ctx.as_of,
                        ctx.caller.manager_id, sections, c.records, facts.conclusion,
                        facts.watch)  # fmt: skip
