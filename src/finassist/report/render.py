"""The report as HTML (a Jinja2 template, autoescaped) and as PDF (WeasyPrint, from the HTML).

Charts are embedded as SVG data URIs with their text drawn as paths; the page text asks for a
system Noto/Source Han font, and the PDF embeds finassist's bundled Chinese font, so no font needs
installing. PDF rendering needs WeasyPrint and its system libraries (Pango); without them the error
names what to install.

>>> html = render_html(report)      # doctest: +SKIP
>>> pdf = render_pdf(html)          # doctest: +SKIP
"""

from __future__ import annotations

import base64

from finassist.errors import FinassistError
from finassist.finance.charts import CJK_FONT_STACK
from finassist.finance.charts.fonts import BUNDLED_FONT, font_face_css
from finassist.finance.evidence import ROLE
from finassist.report.build import HealthReport

PDF_HINT = (
    "无法生成 PDF：需要 Python 包 weasyprint（pip install weasyprint）及其系统库 Pango"
    "（Debian：apt-get install libpango-1.0-0 libpangoft2-1.0-0）。也可用 --format html 先导出网页版。"
)


class ReportRenderError(FinassistError):
    """The report cannot be rendered in the requested format."""


def _environment():  # type: ignore[no-untyped-def]
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("finassist.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    env.filters["b64"] = lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii")
    return env


def render_html(report: HealthReport) -> str:
    """The report as one self-contained HTML page."""
    fonts = ", ".join(f'"{family}"' for family in CJK_FONT_STACK) + ", sans-serif"
    template = _environment().get_template("health_report.html.j2")
    return template.render(r=report, role=ROLE.get(report.role, report.role), fonts=fonts)


def render_pdf(html: str) -> bytes:
    """PDF bytes rendered from the report's HTML."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango libraries are missing
        raise ReportRenderError(PDF_HINT) from exc
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    face = weasyprint.CSS(string=font_face_css(BUNDLED_FONT.as_uri()), font_config=fonts)
    return weasyprint.HTML(string=html).write_pdf(stylesheets=[face], font_config=fonts)
