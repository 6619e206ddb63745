"""The chart spec: a validated JSON description of a chart, never code.

A spec names the finance tool(s) that supply the data and their arguments, which list in the
tool's output to plot (``rows``), the category field (``x``) and the value fields
(``series``). Every tool and field must be listed in the chart catalogue
(``finance/data/chart_views.yaml``); labels and units come from the catalogue, so a spec cannot
mislabel a figure. The offline engine builds specs from a question (:mod:`.plan`); a model
backend emits the same JSON as the arguments of the ``plot_chart`` tool.

>>> spec = ChartSpec.model_validate({
...     "kind": "line", "title": "华东汽车近12个月现金流",
...     "sources": [{"tool": "get_cashflow", "args": {"enterprise_id": "E0001", "months": 12}}],
...     "rows": "months", "x": "month", "series": [{"field": "net"}]})
>>> spec.series[0].label, spec.series[0].unit
('净额', '元')
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

ChartKind = Literal["line", "bar", "stacked_bar", "pie", "scatter"]
Unit = Literal["元", "比例", "天", "笔", "次"]
SOURCE_X = "source"  # x = the label of each source: one category per source (comparisons)
MAX_SOURCES = 8
MAX_SERIES = 6

KIND_LABELS: dict[str, str] = {
    "line": "折线图",
    "bar": "柱状图",
    "stacked_bar": "堆叠柱状图",
    "pie": "饼图",
    "scatter": "散点图",
}


@dataclass(frozen=True)
class FieldInfo:
    """A chartable field: its Chinese label and unit."""

    label: str
    unit: str


@dataclass(frozen=True)
class RowsInfo:
    """A list in a tool's output that can be plotted row by row."""

    x: dict[str, str]
    fields: dict[str, FieldInfo]


@dataclass(frozen=True)
class ToolInfo:
    """What of one tool's output may be charted."""

    fields: dict[str, FieldInfo]
    rows: dict[str, RowsInfo]


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The parsed chart catalogue (``chart_views.yaml``), read once."""
    text = resources.files("finassist.finance").joinpath("data/chart_views.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _fields(raw: dict[str, Any]) -> dict[str, FieldInfo]:
    return {name: FieldInfo(str(v["label"]), str(v["unit"])) for name, v in raw.items()}


@lru_cache(maxsize=1)
def chartable_tools() -> dict[str, ToolInfo]:
    """Tool name -> the fields and row lists of its output that may be charted."""
    tools = {}
    for name, body in catalogue()["tools"].items():
        rows = {
            key: RowsInfo(dict(r["x"]), _fields(r["fields"]))
            for key, r in (body.get("rows") or {}).items()
        }
        tools[name] = ToolInfo(_fields(body.get("fields") or {}), rows)
    return tools


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Model):
    """One tool call that supplies data; ``label`` names it on the chart (e.g. a company)."""

    tool: str = Field(description="提供数据的工具名，例如 get_cashflow")
    args: dict[str, Any] = Field(default_factory=dict, description="工具参数，由工具自身校验")
    label: str | None = Field(None, max_length=40, description="图中该数据源的名称，如企业简称")


class Series(_Model):
    """One plotted value field; ``label`` and ``unit`` default to the catalogue's."""

    field: str = Field(description="数值字段名，例如 inflow、overdue_rate")
    label: str | None = Field(None, max_length=30, description="图例名称，默认取目录中的中文名")
    unit: Unit | None = Field(None, description="单位，默认取目录中的单位")


class ChartSpec(_Model):
    """A chart as data: what to plot, from which tool, how to label it."""

    kind: ChartKind = Field(
        description="图形：line 折线、bar 柱状、stacked_bar 堆叠柱状、pie 饼图、scatter 散点"
    )
    title: str = Field(min_length=1, max_length=60, description="图表标题（中文）")
    sources: list[Source] = Field(
        min_length=1, max_length=MAX_SOURCES, description="数据来源：提供数据的工具及其参数"
    )
    rows: str | None = Field(
        None, description="按行绘制的列表字段（如 months、top）；为空时每个数据源一行（对比图）"
    )
    x: str = Field(SOURCE_X, description="类别字段；source 表示以数据源名称为类别")
    series: list[Series] = Field(
        min_length=1, max_length=MAX_SERIES, description="要绘制的数值字段（一个或多个系列）"
    )

    @model_validator(mode="after")
    def _known_fields(self) -> ChartSpec:
        tools = chartable_tools()
        for source in self.sources:
            if source.tool not in tools:
                raise ValueError(
                    f"工具 {source.tool} 不能用于画图；可用：{'、'.join(sorted(tools))}"
                )
        names = {s.tool for s in self.sources}
        if len(names) != 1:
            raise ValueError("一张图的数据源须来自同一个工具")
        info = tools[self.sources[0].tool]
        if self.rows is None:
            available, xs = info.fields, {SOURCE_X: "数据源"}
        else:
            if self.rows not in info.rows:
                raise ValueError(
                    f"{self.sources[0].tool} 没有可按行绘制的列表 {self.rows}；"
                    f"可用：{'、'.join(info.rows) or '无'}"
                )
            available, xs = info.rows[self.rows].fields, info.rows[self.rows].x
        if self.x not in xs:
            raise ValueError(f"类别字段 {self.x} 不可用；可用：{'、'.join(xs)}")
        for series in self.series:
            known = available.get(series.field)
            if known is None:
                raise ValueError(f"字段 {series.field} 不可用；可用：{'、'.join(available)}")
            if series.unit is not None and series.unit != known.unit:
                raise ValueError(f"字段 {series.field} 的单位是 {known.unit}，不是 {series.unit}")
            series.unit = known.unit  # type: ignore[assignment]
            series.label = series.label or known.label
        self._check_shape()
        return self

    def _check_shape(self) -> None:
        units = {s.unit for s in self.series}
        if self.kind == "scatter":
            if len(self.series) != 2:
                raise ValueError("散点图须恰好有两个数值字段（横轴、纵轴）")
            return
        if len(units) > 1:
            raise ValueError("同一坐标轴上的数值字段须单位相同")
        if self.kind == "pie":
            if len(self.series) != 1:
                raise ValueError("饼图只能有一个数值字段")
            if self.rows is not None and len(self.sources) != 1:
                raise ValueError("按行绘制的饼图只能有一个数据源")
            if self.rows is None and len(self.sources) < 2:
                raise ValueError("对比型饼图至少需要两个数据源")
        if self.x == SOURCE_X and any(not s.label for s in self.sources) and len(self.sources) > 1:
            raise ValueError("多个数据源对比时，每个数据源须有名称（label）")

    def unit(self) -> str:
        """The unit of the value axis (the first series' for scatter's y: the second)."""
        return str(self.series[-1].unit if self.kind == "scatter" else self.series[0].unit)


def spec_schema() -> dict[str, Any]:
    """JSON schema of :class:`ChartSpec`, as a model receives it for function calling."""
    return ChartSpec.model_json_schema()
