"""Draw a resolved chart with matplotlib: PNG and SVG, Chinese labels, 万/亿 units.

Money axes are scaled to 元, 万元 or 亿元 by the largest value and ticks carry thousands
separators; ratios are shown as percentages; bars are labelled with their values. The SVG has
its text as paths, so a browser needs no Chinese font to show it. matplotlib's object API is
used (no pyplot): nothing global is left behind but the font list.

>>> chart = render(data)                    # doctest: +SKIP
>>> chart.png[:4], chart.svg[:5], chart.missing_glyphs  # doctest: +SKIP
(b'\\x89PNG', '<?xml', [])
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass, field
from decimal import Decimal

from finassist.finance.charts.data import ChartData, SeriesData
from finassist.finance.charts.fonts import find_cjk_font

WIDTH_IN, HEIGHT_IN = 8.0, 4.5
PNG_DPI = 120
MAX_VALUE_LABELS = 15  # bars get value labels when there are at most this many
TEN_THOUSAND = Decimal(10_000)
HUNDRED_MILLION = Decimal(100_000_000)
PALETTE = ("#1f5fa8", "#e0792b", "#3a9a5b", "#c0392b", "#7d5ba6", "#8c6d31", "#2c9fb0", "#999999")
OTHER = "其他"
# matplotlib's rcParams are process-wide; renders on server threads must not interleave.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Scale:
    """How values of one unit are shown: divide by ``divisor``, append ``suffix``."""

    divisor: Decimal
    axis_label: str
    suffix: str
    percent: bool = False


def scale_for(unit: str, values: list[Decimal]) -> Scale:
    """The display scale of a unit given the values (money: 元 / 万元 / 亿元).

    >>> scale_for("元", [Decimal("356200000")]).axis_label
    '金额（亿元）'
    """
    if unit == "比例":
        return Scale(Decimal(1), "比例（%）", "%", percent=True)
    if unit == "元":
        largest = max((abs(v) for v in values), default=Decimal(0))
        if largest >= HUNDRED_MILLION:
            return Scale(HUNDRED_MILLION, "金额（亿元）", "亿")
        if largest >= TEN_THOUSAND:
            return Scale(TEN_THOUSAND, "金额（万元）", "万")
        return Scale(Decimal(1), "金额（元）", "元")
    return Scale(Decimal(1), {"天": "天数", "笔": "笔数", "次": "次数"}.get(unit, unit), unit)


def format_value(value: Decimal | float, scale: Scale, *, places: int = 2) -> str:
    """One value as a label: ``1,234.56万``, ``12.34%``, ``35.2天``.

    >>> format_value(Decimal("12345678"), Scale(TEN_THOUSAND, "", "万"))
    '1,234.57万'
    """
    number = Decimal(str(value))
    if scale.percent:
        return f"{number * 100:,.{places}f}%"
    shown = number / scale.divisor
    if scale.suffix in ("笔", "次"):
        return f"{shown:,.0f}{scale.suffix}"
    return f"{shown:,.{places}f}{scale.suffix}"


def _tick(scale: Scale):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    def fmt(value: float, _pos: int) -> str:
        if scale.percent:
            return f"{value * 100:,.1f}%"
        text = f"{Decimal(str(value)) / scale.divisor:,.2f}"
        return text.rstrip("0").rstrip(".") if "." in text else text

    return FuncFormatter(fmt)


@dataclass
class RenderedChart:
    """The drawn chart: PNG bytes, SVG text, and any characters the font could not draw."""

    png: bytes
    svg: str
    missing_glyphs: list[str] = field(default_factory=list)


def _floats(series: SeriesData) -> list[float]:
    return [float(v) if v is not None else float("nan") for v in series.values]


def _all_values(series: list[SeriesData]) -> list[Decimal]:
    return [v for s in series for v in s.values if v is not None]


def _draw_pie(ax, data: ChartData) -> None:  # type: ignore[no-untyped-def]
    series = data.series[0]
    pairs = [(c, v) for c, v in zip(data.categories, series.values, strict=True) if v and v > 0]
    labels = [c for c, _ in pairs]
    values = [v for _, v in pairs]
    if series.unit == "比例" and sum(values, Decimal(0)) < 1:
        labels.append(OTHER)
        values.append(1 - sum(values, Decimal(0)))
    total = sum(values, Decimal(0)) or Decimal(1)
    shown = [
        f"{label}\n{format_value(v / total, Scale(Decimal(1), '', '%', True))}"
        for label, v in zip(labels, values, strict=True)
    ]
    ax.pie(
        [float(v) for v in values],
        labels=shown,
        colors=[PALETTE[i % len(PALETTE)] for i in range(len(values))],
        startangle=90,
        counterclock=False,
        wedgeprops={"linewidth": 1, "edgecolor": "white"},
        textprops={"fontsize": 9},
    )
    ax.axis("equal")


def _draw_scatter(ax, data: ChartData) -> None:  # type: ignore[no-untyped-def]
    xs, ys = data.series
    x_scale = scale_for(xs.unit, _all_values([xs]))
    y_scale = scale_for(ys.unit, _all_values([ys]))
    ax.scatter(_floats(xs), _floats(ys), color=PALETTE[0], s=60, zorder=3)
    for label, x, y in zip(data.categories, xs.values, ys.values, strict=True):
        if x is not None and y is not None:
            ax.annotate(
                label, (float(x), float(y)), textcoords="offset points", xytext=(6, 4), fontsize=9
            )
    ax.set_xlabel(f"{xs.label}（{x_scale.axis_label}）")
    ax.set_ylabel(f"{ys.label}（{y_scale.axis_label}）")
    ax.xaxis.set_major_formatter(_tick(x_scale))
    ax.yaxis.set_major_formatter(_tick(y_scale))
    ax.grid(True, alpha=0.3)


def _draw_axes(ax, data: ChartData) -> None:  # type: ignore[no-untyped-def]
    kind = data.spec.kind
    scale = scale_for(data.series[0].unit, _all_values(data.series))
    positions = list(range(len(data.categories)))
    n = len(data.series)
    width = 0.8 / n if kind == "bar" else 0.6
    bottoms = [0.0] * len(positions)
    for i, series in enumerate(data.series):
        color = PALETTE[i % len(PALETTE)]
        values = _floats(series)
        if kind == "line":
            ax.plot(positions, values, marker="o", color=color, label=series.label, linewidth=2)
            continue
        if kind == "stacked_bar":
            clean = [0.0 if v != v else v for v in values]  # NaN -> 0 in a stack
            bars = ax.bar(positions, clean, width, bottom=bottoms, color=color, label=series.label)
            bottoms = [b + v for b, v in zip(bottoms, clean, strict=True)]
        else:
            offset = (i - (n - 1) / 2) * width
            bars = ax.bar(
                [p + offset for p in positions], values, width, color=color, label=series.label
            )
        if kind == "bar" and len(positions) * n <= MAX_VALUE_LABELS:
            labels = [format_value(v, scale) if v is not None else "" for v in series.values]
            ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
    if kind == "line" and any(v < 0 for v in _all_values(data.series)):
        ax.axhline(0, color="#666666", linewidth=0.8)
    ax.set_xticks(positions)
    rotate = len(positions) > 6 or max((len(c) for c in data.categories), default=0) > 8
    ax.set_xticklabels(
        data.categories,
        rotation=35 if rotate else 0,
        ha="right" if rotate else "center",
        fontsize=9,
    )
    ax.yaxis.set_major_formatter(_tick(scale))
    ax.set_ylabel(scale.axis_label)
    ax.grid(True, axis="y", alpha=0.3)
    if n > 1:
        ax.legend(fontsize=9, frameon=False)
    ax.margins(y=0.12)


def render(data: ChartData) -> RenderedChart:
    """Draw ``data`` as PNG and SVG; :class:`~.fonts.FontMissing` without a Chinese font."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    font = find_cjk_font()
    params = {
        "font.family": "sans-serif",
        "font.sans-serif": [font.family, "DejaVu Sans"],
        "axes.unicode_minus": False,  # the CJK font may lack U+2212
        "svg.fonttype": "path",
        "svg.hashsalt": "finassist",
    }
    with _RENDER_LOCK, rc_context(params), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        ax = fig.add_subplot()
        if not data.categories:
            ax.text(
                0.5, 0.5, "暂无数据", ha="center", va="center", fontsize=14, transform=ax.transAxes
            )
            ax.set_axis_off()
        elif data.spec.kind == "pie":
            _draw_pie(ax, data)
        elif data.spec.kind == "scatter":
            _draw_scatter(ax, data)
        else:
            _draw_axes(ax, data)
        ax.set_title(data.spec.title, fontsize=13)
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        svg = io.StringIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
    missing = sorted({str(w.message) for w in caught if "missing from" in str(w.message)})
    return RenderedChart(png.getvalue(), svg.getvalue(), missing)
