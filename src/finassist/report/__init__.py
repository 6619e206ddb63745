"""The enterprise 现金流健康度报告: figures with evidence and charts, as HTML or PDF.

Sits beside ``assistant/``: it uses the finance tools and charts, and only the CLI uses it.

>>> report = build_report(ToolContext(db, Caller("M001"), as_of), "E0005")  # doctest: +SKIP
>>> Path("r.pdf").write_bytes(render_pdf(render_html(report)))              # doctest: +SKIP
"""

from finassist.fileio import write_atomic
from finassist.report.build import Figure, HealthReport, Section, build_report
from finassist.report.render import ReportRenderError, render_html, render_pdf

__all__ = [
    "Figure",
    "HealthReport",
    "ReportRenderError",
    "Section",
    "build_report",
    "render_html",
    "render_pdf",
    "write_atomic",
]
