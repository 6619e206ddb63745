"""``finassist ask | chat | demo``: talk to the assistant."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import ManagerOpt, SessionOpt, console, err_console
from finassist.config import Settings
from finassist.errors import InvalidInput


def _assistant(settings: Settings):  # type: ignore[no-untyped-def]
    from finassist.assistant import Assistant

    db = common.database(settings)
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


def ask(
    text: Annotated[str, typer.Argument(help="问题，例如：华东汽车近12个月的现金流怎么样？")],
    session: SessionOpt = None,
    manager: ManagerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（含证据与推荐）")] = False,
) -> None:
    """问一个问题（可用 --session 接着之前的会话）。"""
    settings = common.settings()
    reply = _assistant(settings).ask(
        text, manager_id=common.manager_id(settings, manager), session_id=session
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
    manager_id = common.manager_id(settings, manager)
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


def chat(session: SessionOpt = None, manager: ManagerOpt = None) -> None:
    """交互式对话（REPL）。"""
    _chat(common.settings(), manager, session)


def demo(
    manager: ManagerOpt = None,
    seed: Annotated[int, typer.Option(help="示例数据的随机种子")] = 42,
) -> None:
    """首次运行时生成示例数据，然后启动对话。"""
    settings = common.settings()
    db = common.database(settings)
    if db.current_revision() is None or db.current_revision() != db.head_revision():
        db.migrate()
    if not db.table_counts().get("enterprises"):
        console.print(f"首次运行：在 {db.safe_url()} 生成示例数据……")
        common.seed_with_progress(db, seed, 1)
    _chat(settings, manager, None)
