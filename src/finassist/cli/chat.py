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
from finassist.cli import kb as kb_cli
from finassist.cli.common import ManagerOpt, SessionOpt, console, err_console
from finassist.config import Settings
from finassist.errors import InvalidInput

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="使用 finassist.toml 中配置的哪个模型（offline：不用模型）"),
]


def _assistant(settings: Settings, model: str | None = None):  # type: ignore[no-untyped-def]
    from finassist.runtime import build_assistant

    return build_assistant(settings, model=model)


def _save_chart(settings: Settings, reply) -> None:  # type: ignore[no-untyped-def]
    """Write the reply's chart as PNG and SVG under FINASSIST_HOME/charts/; set its paths."""
    if reply.chart and reply.chart.get("data"):
        from datetime import datetime

        from finassist.assistant.charts import save_chart

        stem = f"{reply.session_id[:8]}_{datetime.now():%Y%m%d%H%M%S%f}"
        reply.chart = save_chart(reply.chart, settings.home / "charts", stem)


def _print_reply(reply) -> None:  # type: ignore[no-untyped-def]
    console.print(escape(reply.text))
    if reply.chart and reply.chart.get("png_path"):
        paths = f"{reply.chart['png_path']}（SVG：{reply.chart['svg_path']}）"
        console.print(f"\n[bold]图表[/]：{escape(paths)}")
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
    model: ModelOpt = None,
) -> None:
    """问一个问题（可用 --session 接着之前的会话）。"""
    settings = common.settings()
    reply = _assistant(settings, model).ask(
        text, manager_id=common.manager_id(settings, manager), session_id=session
    )
    _save_chart(settings, reply)
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


def _chat(
    settings: Settings, manager: str | None, session: str | None, model: str | None = None
) -> None:
    assistant = _assistant(settings, model)
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
        _save_chart(settings, reply)
        console.print("[bold green]助手：[/]", end="")
        _print_reply(reply)


def chat(session: SessionOpt = None, manager: ManagerOpt = None, model: ModelOpt = None) -> None:
    """交互式对话（REPL）。"""
    _chat(common.settings(), manager, session, model)


def demo(
    manager: ManagerOpt = None,
    seed: Annotated[int, typer.Option(help="示例数据的随机种子")] = 42,
    host: Annotated[str | None, typer.Option("--host", help="监听地址（默认 127.0.0.1）")] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="端口（默认 8000）")
    ] = None,
) -> None:
    """首次运行时生成示例数据，然后启动网页服务并打印地址与演示密钥（每次运行沿用同一密钥）。"""
    from finassist.cli.serve import run_server
    from finassist.serve.keys import ApiKeyStore

    settings = common.settings()
    db = common.database(settings)
    db.ensure_schema()
    if not db.table_counts().get("enterprises"):
        console.print(f"首次运行：在 {db.safe_url()} 生成示例数据……")
        common.seed_with_progress(db, seed, 1)
    kb_cli.load_sample_once(db)
    manager_id = common.manager_id(settings, manager)
    host, port = host or settings.server.host, port or settings.server.port
    key = ApiKeyStore(db).reuse_or_create(manager_id, label="demo", keep=settings.home / "demo-key")
    console.print(f"[bold]finassist 供应链金融助手[/]（客户经理 {manager_id}）已启动：")
    console.print(f"  网页：http://{host}:{port}/#key={key}", soft_wrap=True)
    console.print(f"  OpenAI 兼容接口：http://{host}:{port}/v1  API 密钥：{key}", soft_wrap=True)
    console.print("  命令行对话请用 finassist chat；按 Ctrl+C 停止。")
    sys.stdout.flush()
    run_server(host, port)
