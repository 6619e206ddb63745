"""Charts as finance data views: a validated spec, the data its tools return, and the drawing.

Modules, lowest first: ``spec`` (the JSON spec and the catalogue of chartable tool fields),
``data`` (run the tools, lay out categories and series; the ``plot_chart`` tool), ``fonts``
(find a Chinese font), ``render`` (matplotlib: PNG and SVG), ``plan`` (the offline engine's
question -> spec). No code from a model ever runs: a spec is data, checked field by field.

>>> spec = plan_chart("看看恒泰精密前五大客户占比", [Company("E0005", "恒泰精密")])  # doctest: +SKIP
>>> chart = render(resolve(spec, ctx))                                              # doctest: +SKIP
"""

from finassist.finance.charts.data import ChartData, PlotChart, SeriesData, resolve
from finassist.finance.charts.fonts import CJK_FONT_STACK, CjkFont, FontMissing, find_cjk_font
from finassist.finance.charts.plan import Company, plan_chart, visible_cores
from finassist.finance.charts.render import RenderedChart, format_value, render, scale_for
from finassist.finance.charts.spec import ChartSpec, Series, Source, spec_schema

__all__ = [
    "CJK_FONT_STACK",
    "ChartData",
    "ChartSpec",
    "CjkFont",
    "Company",
    "FontMissing",
    "PlotChart",
    "RenderedChart",
    "Series",
    "SeriesData",
    "Source",
    "find_cjk_font",
    "format_value",
    "plan_chart",
    "render",
    "resolve",
    "scale_for",
    "spec_schema",
    "visible_cores",
]
