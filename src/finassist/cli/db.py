"""``finassist db``: create or upgrade the schema, seed sample data, check."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from finassist.cli.common import console, database, seed_with_progress, settings

db_app = typer.Typer(help="数据库：初始化、生成示例数据、检查。", no_args_is_help=True)


@db_app.command("init")
def db_init() -> None:
    """创建或升级数据库结构（Alembic 迁移）。"""
    db = database(settings())
    db.migrate()
    console.print(f"[green]数据库已就绪[/]：{db.safe_url()}（结构版本 {db.current_revision()}）")


@db_app.command("seed")
def db_seed(
    scale: Annotated[int, typer.Option(min=1, max=1000, help="数据规模倍数（1 约两万张发票）")] = 1,
    seed: Annotated[int, typer.Option(help="随机种子（相同种子生成相同数据）")] = 42,
) -> None:
    """生成确定性的示例数据（核心企业、供应商、经销商、发票、融资、风险事件、客户经理）。"""
    db = database(settings())
    db.ensure_schema()
    seed_with_progress(db, seed, scale)


@db_app.command("check")
def db_check() -> None:
    """检查数据库连接、结构版本和数据量。"""
    db = database(settings())
    db.check_schema()
    table = Table("表", "行数", title=f"{db.safe_url()}（结构版本 {db.current_revision()}）")
    for name, rows in db.table_counts().items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    as_of = db.data_as_of()
    console.print(f"数据日期：{as_of or '（无示例数据）'}")
