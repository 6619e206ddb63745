"""``finassist report ENTERPRISE``: the 现金流健康度报告 of one enterprise, as HTML or PDF."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from finassist.cli import common
from finassist.cli.common import ManagerOpt, console
from finassist.errors import InvalidInput, NotFound


class ReportFormat(StrEnum):
    """Output formats of the report."""

    html = "html"
    pdf = "pdf"


def report(
    enterprise: Annotated[str, typer.Argument(help="企业编号、全称或简称，例如 E0005 或 恒泰精密")],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="输出格式")
    ] = ReportFormat.html,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="输出文件（默认写到 FINASSIST_HOME/reports/）"),
    ] = None,
    manager: ManagerOpt = None,
    no_charts: Annotated[bool, typer.Option("--no-charts", help="不绘制图表")] = False,
) -> None:
    """生成企业的现金流健康度报告（交易规模、回款周期、逾期、集中度、风险、融资记录与建议）。"""
    from sqlalchemy import select

    from finassist.finance.base import Caller, ToolContext
    from finassist.finance.directory import EnterpriseDirectory
    from finassist.report import build_report, render_html, render_pdf, write_atomic
    from finassist.store.schema import managers

    settings = common.settings()
    db = common.database(settings)
    db.check_schema()
    manager_id = common.manager_id(settings, manager)
    with db.read() as conn:
        role = conn.execute(
            select(managers.c.role).where(managers.c.id == manager_id)
        ).scalar_one_or_none()
    if role is None:
        raise InvalidInput(
            f"未知的客户经理编号：{manager_id}。请用 --manager 指定有效编号（如 M001）。"
        )
    ctx = ToolContext(
        db, Caller(manager_id, is_admin=role == "admin"), settings.as_of or db.data_as_of()
    )
    directory = EnterpriseDirectory(ctx)
    entry = directory.get(enterprise.strip().upper())
    if entry is not None:
        enterprise_id = entry.id
    else:
        matches = directory.search(enterprise)
        if not matches:
            raise NotFound(f"未找到企业“{enterprise}”，或您无权查看该企业。请核对名称后再试。")
        if len(matches) > 1 and matches[0].score < 100 and matches[0].score - matches[1].score < 15:
            options = "；".join(f"{m.id} {m.name}" for m in matches)
            raise InvalidInput(f"“{enterprise}”匹配到多家企业，请用企业编号指定：{options}")
        enterprise_id = matches[0].id
    built = build_report(ctx, enterprise_id, charts=not no_charts)
    html = render_html(built)
    content = html.encode("utf-8") if fmt is ReportFormat.html else render_pdf(html)
    path = out or settings.home / "reports" / f"{built.enterprise_id}_{built.as_of}.{fmt.value}"
    write_atomic(path, content)
    console.print(f"已生成 {built.name} 的现金流健康度报告：{path}")
    console.print(f"[dim]结论：{built.conclusion}[/]")
