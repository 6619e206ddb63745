"""The composer for the ``chart`` intent.

``chart``: the companies named in the message (several for a comparison; 三家核心企业 without
names means the caller's core enterprises), a spec planned from the question, the data from the
finance tools, the figures stated line by line with citations, and the drawing (SVG inline;
``finassist ask`` writes PNG and SVG files, see :func:`save_chart`).

>>> reply = Assistant(db, router=router).ask("画出华东汽车近12个月的现金流", manager_id="M001")  # doctest: +SKIP
>>> reply.chart["spec"]["kind"], reply.chart["svg"][:5]                                    # doctest: +SKIP
('line', '<?xml')
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from finassist.assistant.compose import count, days, money, percent
from finassist.assistant.handlers import Answer, TurnInput, handler
from finassist.assistant.slots import chinese_number
from finassist.fileio import write_atomic
from finassist.finance.base import ToolResult
from finassist.finance.charts import (
    ChartData,
    ChartSpec,
    Company,
    FontMissing,
    plan_chart,
    render,
    resolve,
    visible_cores,
)
from finassist.finance.charts.spec import KIND_LABELS
from finassist.finance.directory import EnterpriseDirectory

MAX_LINES = 12
DEFAULT_CORES = 3
_CORE_COUNT = re.compile(r"([一二两三四五六七八九十\d]+)\s*家\s*核心企业")
_ALL_CORES = ("核心企业", "各核心", "所有核心")


def companies_in(turn: TurnInput) -> list[Company]:
    """Every company the message names (in order); else its core enterprises; else the focus."""
    found: list[Company] = []
    directory = turn.directory or EnterpriseDirectory(turn.tools)
    for match in directory.scan(turn.text):
        if all(c.id != match.id for c in found):
            found.append(Company(match.id, match.short_name or match.name))
    if len(found) < 2 and any(word in turn.text for word in _ALL_CORES):
        wanted = _CORE_COUNT.search(turn.text)
        number = chinese_number(wanted.group(1).replace("两", "二")) if wanted else None
        cores = visible_cores(turn.tools, number or DEFAULT_CORES)
        if len(cores) > len(found):
            return cores
    if not found and turn.enterprise_id:
        found.append(Company(turn.enterprise_id, turn.enterprise_name or turn.enterprise_id))
    return found


def _shown(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "无数据"
    if unit == "元":
        return money(value)
    if unit == "比例":
        return percent(value)
    if unit == "天":
        return days(value)
    return f"{count(int(value))} {unit}"


def _source_of(spec: ChartSpec, data: ChartData, series_index: int, category: int) -> ToolResult:
    """The tool result that supplied one plotted value."""
    if spec.rows is None:
        return data.results[category]
    return data.results[series_index // len(spec.series)]


def figure_lines(turn: TurnInput, data: ChartData) -> list[str]:
    """The plotted figures as cited sentences, one per category (at most :data:`MAX_LINES`)."""
    spec = data.spec
    lines = []
    if spec.kind == "pie" and spec.rows is not None:
        head = data.results[0]
        lines.append(
            f"{data.spec.title}（共 {len(data.categories)} 项）{turn.book.cite_tool(head)}："
        )
    for i, category in enumerate(data.categories[:MAX_LINES]):
        parts, cites = [], []
        for j, series in enumerate(data.series):
            value = series.values[i]
            if value is None:
                continue
            parts.append(f"{series.label} {_shown(value, series.unit)}")
            cites.append(turn.book.cite_value(_source_of(spec, data, j, i), value, category))
        if parts:
            lines.append(f"{category}：{'，'.join(parts)}{''.join(dict.fromkeys(cites))}")
    if len(data.categories) > MAX_LINES:
        lines.append(f"（其余 {len(data.categories) - MAX_LINES} 项见图表）")
    return lines


def chart_payload(spec: ChartSpec, data: ChartData) -> tuple[dict[str, Any], str | None]:
    """``{"spec", "data", "svg", "png_path"}`` for the reply, and a note when drawing failed."""
    payload: dict[str, Any] = {
        "spec": spec.model_dump(mode="json"),
        "data": data.to_json(),
        "svg": None,
        "png_path": None,
    }
    try:
        drawn = render(data)
    except FontMissing as exc:
        return payload, str(exc)
    payload["svg"] = drawn.svg
    return payload, None


@handler("chart")
def chart(turn: TurnInput) -> Answer:
    """Draw what the question asks for, and state the plotted figures with their evidence."""
    companies = companies_in(turn)
    if not companies:
        return Answer(["请告诉我要画哪家企业的图，例如：画出华东汽车近12个月的现金流。"])
    spec = plan_chart(turn.text, companies, turn.window)
    data = resolve(spec, turn.tools)
    turn.results.extend(data.results)
    kind = KIND_LABELS[spec.kind]
    lines = [f"已生成{kind}“{spec.title}”，图中数据如下："]
    lines.extend(figure_lines(turn, data))
    payload, problem = chart_payload(spec, data)
    if problem:
        lines.append(problem)
    return Answer(lines, chart=payload)


# -- files for the CLI ---------------------------------------------------------------------------


def save_chart(chart: dict[str, Any], directory: Path, stem: str) -> dict[str, Any]:
    """Write ``stem.png`` and ``stem.svg`` under ``directory`` (atomically); set ``png_path``.

    The PNG is drawn again from the reply's own data (no database needed).
    """
    data = ChartData.from_json(chart["spec"], chart["data"])
    drawn = render(data)
    directory.mkdir(parents=True, exist_ok=True)
    png_path = directory / f"{stem}.png"
    write_atomic(png_path, drawn.png)
    write_atomic(directory / f"{stem}.svg", (chart.get("svg") or drawn.svg).encode("utf-8"))
    return {**chart, "png_path": str(png_path), "svg_path": str(directory / f"{stem}.svg")}
