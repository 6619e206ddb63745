"""The enterprise health report: figures against independent SQL, HTML, PDF and the command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.system_packages import require_all, require_pango, require_poppler

from finassist.finance.base import Caller, ToolContext
from finassist.report import build_report, render_html, render_pdf
from finassist.store import Database

AS_OF = date(2026, 10, 31)
START = date(2025, 11, 1)


@pytest.fixture(scope="module")
def report(sample_db: Database):  # type: ignore[no-untyped-def]
    return build_report(ToolContext(sample_db, Caller("M001"), AS_OF), "E0005")


def _figures(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.label: f.value for s in report.sections for f in s.figures}


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def test_report_figures_match_sql(report, sample_db: Database) -> None:  # type: ignore[no-untyped-def]
    figures = _figures(report)
    with sample_db.read() as conn:
        sales = conn.execute(
            text(
                "SELECT SUM(amount) FROM invoices WHERE seller_id = 'E0005' AND status <> 'void' "
                "AND issue_date BETWEEN :s AND :t"
            ),
            {"s": START, "t": AS_OF},
        ).scalar()
        inflow = conn.execute(
            text(
                "SELECT SUM(amount) FROM payments WHERE payee_id = 'E0005' AND paid_date BETWEEN :s AND :t"
            ),
            {"s": START, "t": AS_OF},
        ).scalar()
        paid = conn.execute(
            text(
                "SELECT amount + tax AS total, issue_date, paid_date FROM invoices WHERE seller_id = 'E0005' "
                "AND status = 'paid' AND paid_date BETWEEN :s AND :t"
            ),
            {"s": START, "t": AS_OF},
        ).all()
        financing = conn.execute(
            text(
                "SELECT COUNT(*), SUM(CASE WHEN status = 'active' THEN amount ELSE 0 END) FROM financing WHERE applicant_id = 'E0005'"
            )
        ).one()
    assert figures["近12个月开票销售额（不含税）"] == Decimal(sales) / 100
    assert figures["近12个月资金流入"] == Decimal(inflow) / 100
    weight = sum(Decimal(r.total) for r in paid)
    days = sum(Decimal(r.total) * (_day(r.paid_date) - _day(r.issue_date)).days for r in paid)
    assert figures["平均回款天数（按金额加权）"] == (days / weight).quantize(Decimal("0.1"))
    assert figures["融资笔数"] == financing[0]
    assert figures["在贷余额"] == Decimal(financing[1] or 0) / 100


def test_every_figure_cites_evidence(report) -> None:  # type: ignore[no-untyped-def]
    n = len(report.evidence)
    for section in report.sections:
        for figure in section.figures:
            assert figure.cites and all(1 <= c <= n for c in figure.cites), figure.label
    assert report.sections[-1].title == "七、融资建议"


def test_html_is_escaped_and_has_charts(report) -> None:  # type: ignore[no-untyped-def]
    html = render_html(report)
    assert "苏州恒泰精密机械有限公司 现金流健康度报告" in html
    assert html.count("data:image/svg+xml;base64,") == 2
    assert 'id="ev1"' in html and "<script" not in html


@pytest.mark.system
def test_pdf_first_page_is_not_blank(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    require_all(require_pango, require_poppler)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(render_html(report)))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
        check=True,
    )
    page = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    dark = sum(page.histogram()[:200])
    assert dark > 0.01 * page.width * page.height
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "CID" in fonts  # the Chinese text is set in an embedded CJK font


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    env.update({"FINASSIST_HOME": str(home), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "finassist.cli", "report", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sample_db: Database) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / "finassist.db").write_bytes(Path(sample_db.url.removeprefix("sqlite:///")).read_bytes())
    return home


def test_report_command_writes_html_and_refuses_other_clients(home: Path) -> None:
    ok = _run(home, "恒泰精密", "--no-charts")
    assert ok.returncode == 0, ok.stderr
    written = home / "reports" / "E0005_2026-10-31.html"
    assert "现金流健康度报告" in written.read_text("utf-8")
    refused = _run(home, "E0002", "--format", "pdf", "--out", str(home / "x.pdf"))
    assert refused.returncode == 1 and "无权查看" in refused.stderr
    assert not (home / "x.pdf").exists()
    ambiguous = _run(home, "华信")
    assert ambiguous.returncode == 1 and "E0013" in ambiguous.stderr


def test_the_assistant_turn_and_the_report_draw_the_same_conclusion(sample_db: Database) -> None:
    import finassist.assistant  # noqa: F401  (registers the composers)
    from finassist.assistant.handlers import HANDLERS, TurnInput

    conclusions = set()
    for eid in ("E0001", "E0005", "E0006", "E0010"):
        ctx = ToolContext(sample_db, Caller("admin", is_admin=True), AS_OF)
        built = build_report(ctx, eid, charts=False)
        answer = HANDLERS["report"](TurnInput(ctx, "现金流健康度报告", eid, built.name))
        assert answer.lines[-1] == f"结论：{built.conclusion}"
        conclusions.add(built.conclusion)
    assert len(conclusions) > 1  # the rule is exercised both ways, not one fixed sentence
