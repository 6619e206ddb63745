"""The offline engine's chart planner: a question and the companies it names -> a chart spec.

Views (``chart_views.yaml``) say which tool and fields answer which words of a question
(现金流 -> monthly cash flow line, 前五大客户 -> customer share pie, 逾期率 -> overdue-rate bars
per company). A chart kind named in the question (柱状图, 饼图 ...) replaces the view's own when
the data allows it.

>>> spec = plan_chart("画出华东汽车近12个月的现金流", [Company("E0001", "华东汽车")], {"months": 12})
>>> spec.kind, spec.sources[0].args
('line', {'enterprise_id': 'E0001', 'months': 12})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from finassist.errors import InvalidInput
from finassist.finance.access import visible_ids
from finassist.finance.base import ToolContext
from finassist.finance.charts.spec import SOURCE_X, ChartSpec, catalogue
from finassist.store import schema

DEFAULT_MONTHS = 12
DAYS_PER_MONTH = 30
DEFAULT_SINGLE_VIEW = "cashflow_trend"
DEFAULT_COMPARE_VIEW = "overdue_rate"
MAX_NAMES_IN_TITLE = 3


@dataclass(frozen=True)
class Company:
    """An enterprise the question names (resolved by the directory): id and display name."""

    id: str
    label: str


def choose_view(text: str, comparing: bool) -> str:
    """The view whose keywords the question hits most (ties: the first listed)."""
    views = catalogue()["views"]
    best, best_hits = None, 0
    for name, view in views.items():
        hits = sum(1 for kw in view["keywords"] if kw in text)
        if hits > best_hits:
            best, best_hits = name, hits
    if best is None:
        return DEFAULT_COMPARE_VIEW if comparing else DEFAULT_SINGLE_VIEW
    return best


def _kind(text: str, default: str, rows: str | None, sources: int, series: int) -> str:
    for word, kind in catalogue()["kinds"].items():
        if word not in text:
            continue
        if kind == "pie" and (
            series != 1 or (rows is None and sources < 2) or (rows and sources > 1)
        ):
            continue
        if kind == "scatter" and series != 2:
            continue
        if kind != "scatter" and default == "scatter":
            continue
        return str(kind)
    return default


def _window_args(tool: str, window: dict[str, int]) -> dict[str, int]:
    if tool == "get_cashflow" and "days" in window:
        return {"days": window["days"]}
    if "days" in window:
        return {"months": max(1, -(-window["days"] // DAYS_PER_MONTH))}
    return {"months": window.get("months", DEFAULT_MONTHS)}


def _window_label(window: dict[str, int]) -> str:
    if "days" in window:
        return f"近{window['days']}天"
    return f"近{window.get('months', DEFAULT_MONTHS)}个月"


def _names(companies: list[Company]) -> str:
    labels = [c.label for c in companies]
    if len(labels) > MAX_NAMES_IN_TITLE:
        return f"{labels[0]}等{len(labels)}家企业"
    return "、".join(labels)


def plan_chart(
    text: str,
    companies: list[Company],
    window: dict[str, int] | None = None,
    view: str | None = None,
) -> ChartSpec:
    """A chart spec answering ``text`` about ``companies`` (one or more, in the question's order)."""
    if not companies:
        raise InvalidInput("请告诉我要画哪家企业的图，例如：画出华东汽车近12个月的现金流。")
    window = window or {}
    views = catalogue()["views"]
    name = view or choose_view(text, len(companies) > 1)
    body: dict[str, Any] = views[name]
    rows = body.get("rows")
    fields = list(body["series"])
    if len(companies) > 1 and rows is not None:
        compare = body.get("compare_series")
        if compare:
            fields = list(compare)
        else:  # a per-row view of several companies is unreadable: the first company only
            companies = companies[:1]
    args_base = dict(body.get("args") or {})
    sources = []
    for company in companies:
        args = {"enterprise_id": company.id, **args_base}
        if body.get("window"):
            args |= _window_args(body["tool"], window)
        sources.append({"tool": body["tool"], "args": args, "label": company.label})
    kind = _kind(text, body["kind"], rows, len(sources), len(fields))
    title = body["title"].format(names=_names(companies), window=_window_label(window))
    spec = {
        "kind": kind,
        "title": title[:60],
        "sources": sources,
        "rows": rows,
        "x": body.get("x", SOURCE_X),
        "series": [{"field": f} for f in fields],
    }
    try:
        return ChartSpec.model_validate(spec)
    except ValidationError as exc:  # a view that breaks the spec's rules is our bug: say so
        raise InvalidInput(f"无法按该视图生成图表（{name}）：{exc.errors()[0]['msg']}") from exc


def visible_cores(ctx: ToolContext, limit: int) -> list[Company]:
    """Up to ``limit`` core enterprises the caller may see, by id (for 比较三家核心企业)."""
    e = schema.enterprises
    allowed = visible_ids(ctx)
    query = select(e.c.id, e.c.short_name, e.c.name).where(e.c.role == "core").order_by(e.c.id)
    with ctx.read() as conn:
        rows = conn.execute(query).all()
    cores = [
        Company(r.id, r.short_name or r.name) for r in rows if allowed is None or r.id in allowed
    ]
    return cores[:limit]
