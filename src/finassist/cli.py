"""The ``finassist`` command: demo, chat, ask and db.

Settings are read here, at the edge, and passed down. Every :class:`FinassistError` is printed
as its Chinese message with exit code 1; a user never sees a traceback for a known failure.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from finassist.config import Settings
from finassist.errors import FinassistError, InvalidInput, SchemaVersionError
from finassist.store import Database

app = typer.Typer(
    help="finassist：中文供应链金融助手（离线引擎，无需模型）。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据库：初始化、生成示例数据、检查。", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)

DEFAULT_MANAGER = "M001"
ManagerOpt = Annotated[
    str | None, typer.Option("--manager", "-m", help="以哪位客户经理的身份提问（默认 M001）")
]
SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="继续已有会话的编号")]


def _settings() -> Settings:
    return Settings.load()


def _database(settings: Settings) -> Database:
    return Database.from_settings(settings)


def _manager(settings: Settings, manager: str | None) -> str:
    return manager or settings.manager or DEFAULT_MANAGER


@contextmanager
def _progress() -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        yield progress


def _seed(db: Database, seed: int, scale: int) -> None:
    from finassist.store.seed import seed_database

    tasks: dict[str, int] = {}
    with _progress() as progress:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = seed_database(db, seed=seed, scale=scale, progress=report)
    counts = "，".join(f"{k} {v:,}" for k, v in result.counts.items())
    console.print(
        f"[green]示例数据已生成[/]（数据日期 {result.as_of}，用时 {result.seconds:.1f} 秒）：{counts}"
    )


# -- db -----------------------------------------------------------------------------------------


@db_app.command("init")
def db_init() -> None:
    """创建或升级数据库结构（Alembic 迁移）。"""
    settings = _settings()
    db = _database(settings)
    db.migrate()
    console.print(f"[green]数据库已就绪[/]：{db.safe_url()}（结构版本 {db.current_revision()}）")


@db_app.command("seed")
def db_seed(
    scale: Annotated[int, typer.Option(min=1, max=1000, help="数据规模倍数（1 约两万张发票）")] = 1,
    seed: Annotated[int, typer.Option(help="随机种子（相同种子生成相同数据）")] = 42,
) -> None:
    """生成确定性的示例数据（核心企业、供应商、经销商、发票、融资、风险事件、客户经理）。"""
    db = _database(_settings())
    db.check_schema()
    _seed(db, seed, scale)


@db_app.command("check")
def db_check() -> None:
    """检查数据库连接、结构版本和数据量。"""
    db = _database(_settings())
    db.check_schema()
    table = Table("表", "行数", title=f"{db.safe_url()}（结构版本 {db.current_revision()}）")
    for name, rows in db.table_counts().items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    as_of = db.data_as_of()
    console.print(f"数据日期：{as_of or '（无示例数据）'}")


# -- ask / chat / demo --------------------------------------------------------------------------


def _assistant(settings: Settings):  # type: ignore[no-untyped-def]
    from finassist.assistant import Assistant

    db = _database(settings)
    db.check_schema()
    return Assistant(db, as_of=settings.as_of)


def _print_reply(reply) -> None:  # type: ignore[no-untyped-def]
    console.print(escape(reply.text))
    if reply.evidence:
        console.print("\n[bold]证据[/]")
        for n, item in enumerate(reply.evidence, start=1):
            console.print(f"[dim][{n}] {escape(item.source)} · {escape(item.text)}[/]")
    if reply.recommendation and reply.recommendation.get("recommended_product"):
        _print_recommendation(reply.recommendation)


def _print_recommendation(rec: dict[str, Any]) -> None:
    """The recommendation as a card; the full JSON is in ``finassist ask --json``."""
    low, high = rec["recommended_rate_range"]
    card = Table(title="推荐结果", show_header=False)
    card.add_row("产品", str(rec["recommended_product_name"]))
    card.add_row("建议额度", f"{Decimal(rec['recommended_amount']):,.2f} 元")
    card.add_row("利率区间", f"{low}%–{high}%")
    card.add_row("置信度 / 风险评分", f"{rec['confidence']} / {rec['risk_score']}")
    card.add_row("转人工", "是" if rec.get("escalate_to_human") else "否")
    for driver in rec.get("drivers", []):
        card.add_row(f"驱动因素·{driver['name']}", f"{driver['value']} {driver.get('unit', '')}")
    console.print(card)


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="问题，例如：华东汽车近12个月的现金流怎么样？")],
    session: SessionOpt = None,
    manager: ManagerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（含证据与推荐）")] = False,
) -> None:
    """问一个问题（可用 --session 接着之前的会话）。"""
    settings = _settings()
    reply = _assistant(settings).ask(
        text, manager_id=_manager(settings, manager), session_id=session
    )
    if as_json:
        sys.stdout.write(json.dumps(reply.to_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        _print_reply(reply)
        console.print(f"\n[dim]会话编号：{reply.session_id}（用 --session 继续）[/]")


CHAT_HELP = "输入问题后回车；/new 新会话，/session 查看会话编号，/exit 退出。"
SAMPLE_QUESTIONS = (
    "华东汽车近12个月的现金流怎么样？",
    "他们还有哪些应收发票没付？",
    "给恒泰精密推荐一个融资产品",
    "那华信呢",
    "帮我出一份聚力电机的现金流健康度报告",
    "反向保理是什么？",
)


def _chat(settings: Settings, manager: str | None, session: str | None) -> None:
    assistant = _assistant(settings)
    manager_id = _manager(settings, manager)
    assistant.caller(manager_id)
    if session:
        assistant.sessions.load(session, manager_id)
    console.print(f"[bold]finassist 供应链金融助手[/]（客户经理 {manager_id}）。{CHAT_HELP}")
    console.print("[dim]可以这样问：" + " / ".join(SAMPLE_QUESTIONS) + "[/]")
    while True:
        try:
            line = console.input("\n[bold cyan]您：[/]")
        except (EOFError, KeyboardInterrupt):
            console.print("\n再见！")
            return
        command = line.strip()
        if command in ("/exit", "/quit", "exit", "quit"):
            console.print("再见！")
            return
        if command == "/new":
            session = None
            console.print("[dim]已开始新会话。[/]")
            continue
        if command == "/session":
            console.print(f"[dim]会话编号：{session or '（尚未开始）'}[/]")
            continue
        try:
            reply = assistant.ask(line, manager_id=manager_id, session_id=session)
        except InvalidInput as exc:
            err_console.print(f"[yellow]{escape(str(exc))}[/]")
            continue
        session = reply.session_id
        console.print("[bold green]助手：[/]", end="")
        _print_reply(reply)


@app.command()
def chat(session: SessionOpt = None, manager: ManagerOpt = None) -> None:
    """交互式对话（REPL）。"""
    _chat(_settings(), manager, session)


@app.command()
def demo(
    manager: ManagerOpt = None,
    seed: Annotated[int, typer.Option(help="示例数据的随机种子")] = 42,
) -> None:
    """首次运行时生成示例数据，然后启动对话。"""
    settings = _settings()
    db = _database(settings)
    if db.current_revision() is None or db.current_revision() != db.head_revision():
        db.migrate()
    if not db.table_counts().get("enterprises"):
        console.print(f"首次运行：在 {db.safe_url()} 生成示例数据……")
        _seed(db, seed, 1)
    _chat(settings, manager, None)


def _log_crash(exc: BaseException) -> Path:
    """Write the traceback of an unexpected error where the user can send it to us."""
    log_dir = Path(os.environ.get("FINASSIST_HOME", "~/.finassist")).expanduser() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "error.log"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"--- {datetime.now().isoformat()} {' '.join(sys.argv)}\n")
        fh.write("".join(traceback.format_exception(exc)))
    return path


def main() -> None:
    """Console-script entry point: errors become a message, never a traceback."""
    try:
        app()
    except FinassistError as exc:
        err_console.print(f"[red]错误：[/]{escape(str(exc))}")
        if isinstance(exc, SchemaVersionError):
            err_console.print("[dim]提示：finassist db init 会创建或升级数据库结构。[/]")
        sys.exit(exc.exit_code)
    except Exception as exc:
        path = _log_crash(exc)
        err_console.print(
            f"[red]内部错误：[/]{escape(type(exc).__name__)}。详细信息已写入 {path}，"
            "请将该文件发给维护人员。"
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
