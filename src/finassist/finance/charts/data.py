"""Run a chart spec's tools and lay their output out as categories and series.

The tools run with the caller's scope (a spec naming an enterprise the caller may not see fails
like any tool call). Values stay ``Decimal``; :class:`ChartData` is JSON-able so that a chart can
be re-rendered (say, to PNG for a file) without touching the database again.

>>> data = resolve(spec, ctx)                       # doctest: +SKIP
>>> data.categories[:2], data.series[0].values[:2]  # doctest: +SKIP
(['2025-11', '2025-12'], [Decimal('1234.50'), Decimal('-88.00')])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finassist.errors import InvalidInput
from finassist.finance.base import (
    Record,
    Tool,
    ToolContext,
    ToolResult,
    get_tool,
    jsonable,
    register,
)
from finassist.finance.charts.spec import ChartSpec


@dataclass
class SeriesData:
    """One plotted series: its label, unit and one value per category (None where absent)."""

    label: str
    unit: str
    values: list[Decimal | None]


@dataclass
class ChartData:
    """A resolved chart: the spec, the categories (x) and the series, plus the tool results."""

    spec: ChartSpec
    categories: list[str]
    series: list[SeriesData]
    results: list[ToolResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"categories": [...], "series": [{"label", "unit", "values"}]}`` (Decimal as str)."""
        return {
            "categories": list(self.categories),
            "series": [
                {"label": s.label, "unit": s.unit, "values": jsonable(s.values)}
                for s in self.series
            ],
        }

    @classmethod
    def from_json(cls, spec: dict[str, Any], data: dict[str, Any]) -> ChartData:
        """Rebuild from :meth:`to_json` and the spec's JSON (validated again)."""
        try:
            parsed = ChartSpec.model_validate(spec)
            series = [
                SeriesData(
                    str(s["label"]),
                    str(s["unit"]),
                    [None if v is None else Decimal(str(v)) for v in s["values"]],
                )
                for s in data["series"]
            ]
            categories = [str(c) for c in data["categories"]]
        except (KeyError, TypeError, ArithmeticError, ValueError) as exc:
            raise InvalidInput(f"图表数据格式不正确：{exc}") from exc
        if any(len(s.values) != len(categories) for s in series):
            raise InvalidInput("图表数据格式不正确：各数据序列的长度须与类别数一致")
        return cls(parsed, categories, series)

    def records(self) -> list[Record]:
        """Every evidence record of the tools that supplied the data."""
        return [r for result in self.results for r in result.records]


def _label(source_label: str | None, result: ToolResult, index: int) -> str:
    if source_label:
        return source_label
    for record in result.records:
        if record.kind == "enterprise":
            return str(record.data.get("short_name") or record.data.get("name") or "")
    return f"数据{index + 1}"


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def resolve(spec: ChartSpec, ctx: ToolContext) -> ChartData:
    """Run the spec's tools (as the caller) and collect the plotted values."""
    results = [get_tool(s.tool).run(ctx, s.args) for s in spec.sources]
    labels = [
        _label(s.label, r, i) for i, (s, r) in enumerate(zip(spec.sources, results, strict=True))
    ]
    if spec.rows is None:
        categories = labels
        series = [
            SeriesData(str(s.label), str(s.unit), [_number(r.data.get(s.field)) for r in results])
            for s in spec.series
        ]
        return ChartData(spec, categories, series, results)

    categories: list[str] = []
    tables: list[dict[str, dict[str, Any]]] = []
    for result in results:
        table: dict[str, dict[str, Any]] = {}
        for row in result.data.get(spec.rows) or []:
            key = str(jsonable(row.get(spec.x)))
            if key in table:  # same category twice (two loans on one day): keep both apart
                n = 2
                while f"{key}（{n}）" in table:
                    n += 1
                key = f"{key}（{n}）"
            table[key] = row
            if key not in categories:
                categories.append(key)
        tables.append(table)
    series = []
    for label, table in zip(labels, tables, strict=True):
        for s in spec.series:
            name = str(s.label) if len(results) == 1 else f"{label}·{s.label}"
            values = [_number(table[c].get(s.field)) if c in table else None for c in categories]
            series.append(SeriesData(name, str(s.unit), values))
    return ChartData(spec, categories, series, results)


@register
class PlotChart(Tool):
    """Validate a chart spec and gather its data (rendering happens where the chart is shown)."""

    name = "plot_chart"
    description = (
        "按图表规格画图：指定图形（折线/柱状/堆叠柱状/饼图/散点）、提供数据的查询工具及其参数、"
        "类别字段与数值字段、标题。只能使用图表目录中列出的工具与字段，不执行任何代码。"
    )
    Args = ChartSpec

    def execute(self, ctx: ToolContext, args: ChartSpec) -> ToolResult:
        chart = resolve(args, ctx)
        data = {"spec": args.model_dump(mode="json"), **chart.to_json()}
        return ToolResult(self.name, args.model_dump(mode="json"), data, chart.records())
