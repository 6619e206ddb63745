"""``finassist eval run | compare | list``: benchmarks on any backend, stored runs, comparison."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console
from finassist.errors import DatabaseUnavailable, InvalidInput, SchemaVersionError

if TYPE_CHECKING:
    from finassist.evaluate import TaskFile
    from finassist.evaluate.bertscore import BertScorer

eval_app = typer.Typer(help="评测：在任意模型上运行评测任务、对比两次评测。", no_args_is_help=True)


def _subject(settings: Any, model: str, judge: str | None, manager: str | None) -> Any:
    """What is evaluated: the assistant ``ask`` and the server answer with (same builder), and
    the model itself for the tasks that ask it directly."""
    from finassist.evaluate import Subject
    from finassist.llm import get_backend
    from finassist.runtime import build_runtime

    backend = None if model == "offline" else get_backend(model, settings)
    try:
        runtime = build_runtime(settings, model=model)
    except (SchemaVersionError, DatabaseUnavailable):
        runtime = None  # no database yet: answers come from the model alone, retrieval is refused
    return Subject(
        name=model,
        backend=backend,
        assistant=runtime.assistant if runtime is not None else None,
        kb=runtime.kb if runtime is not None else None,
        judge=get_backend(judge, settings) if judge else None,
        manager_id=common.manager_id(settings, manager),
    )


def _bertscorer(
    path: Path, layer: int | None, idf: bool, tasks: list[TaskFile]
) -> BertScorer | None:
    """The BERTScore scorer, loaded now so that a bad model directory fails before any task
    runs; None (with a note) when no task is a generation task."""
    from finassist.evaluate.bertscore import BertScorer

    if not any(t.kind == "generation" for t in tasks):
        console.print("提示：所选任务中没有生成任务，--bertscore-model 未使用。")
        return None
    scorer = BertScorer(path, layer=layer, idf=idf)
    scorer.warm_up()
    console.print(f"BERTScore 模型：{escape(scorer.describe())}")
    return scorer


@eval_app.command("run")
def run(
    task_files: Annotated[list[Path], typer.Argument(help="评测任务文件（JSONL，可多个）")],
    model: Annotated[
        str, typer.Option("--model", help="模型名：offline 或 finassist.toml 中配置的模型")
    ] = "offline",
    limit: Annotated[int | None, typer.Option("--limit", help="每个任务最多评测多少条")] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="评审任务所用的评审模型名")] = None,
    bertscore_model: Annotated[
        Path | None,
        typer.Option(
            "--bertscore-model",
            help="生成任务加算 BERTScore 所用的本地模型目录（如 bert-base-chinese）",
        ),
    ] = None,
    bertscore_layer: Annotated[
        int | None,
        typer.Option("--bertscore-layer", help="BERTScore 取第几层的隐藏状态（默认最后一层）"),
    ] = None,
    bertscore_idf: Annotated[
        bool, typer.Option("--bertscore-idf", help="BERTScore 按参考答案的 IDF 加权")
    ] = False,
    manager: common.ManagerOpt = None,
) -> None:
    """运行评测任务并保存结果。"""
    from finassist.evaluate import load_task_file, run_tasks, save_run

    if limit is not None and limit < 1:
        raise InvalidInput("--limit 至少为 1。")
    if bertscore_model is None and (bertscore_layer is not None or bertscore_idf):
        raise InvalidInput("--bertscore-layer 与 --bertscore-idf 需与 --bertscore-model 一起使用。")
    tasks = [load_task_file(p) for p in task_files]  # check every file before running any
    settings = common.settings()
    subject = _subject(settings, model, judge, manager)
    if bertscore_model is not None:
        subject.bertscore = _bertscorer(bertscore_model, bertscore_layer, bertscore_idf, tasks)
    results = run_tasks(tasks, subject, limit=limit)
    notes = {"bertscore": subject.bertscore.describe()} if subject.bertscore else {}
    stored = save_run(settings.home, model, results, notes=notes)
    table = Table(title=f"评测结果（模型 {escape(model)}）")
    for col in ("任务", "类型", "样例数", "指标"):
        table.add_column(col)
    for r in results:
        shown = "，".join(f"{k}={v:.4f}" for k, v in r.metrics.items())
        table.add_row(escape(r.name), r.kind, str(r.n), escape(shown))
    console.print(table)
    console.print(f"评测编号：{stored.run_id}")


@eval_app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="对比基线的评测编号")],
    run_b: Annotated[str, typer.Argument(help="新评测编号")],
    html: Annotated[Path | None, typer.Option("--html", help="另存为 HTML 报告（含图）")] = None,
) -> None:
    """对比两次评测：每个任务与总体的前后变化。"""
    from finassist.evaluate import compare, load_run, render_html
    from finassist.evaluate.runs import fmt, scoring_differences
    from finassist.fileio import write_atomic

    settings = common.settings()
    a, b = load_run(settings.home, run_a), load_run(settings.home, run_b)
    rows = compare(a, b)
    table = Table(title=f"评测对比 {escape(a.run_id)} → {escape(b.run_id)}")
    for col in ("任务", "指标", "A", "B", "变化"):
        table.add_column(col)
    for r in rows:
        table.add_row(escape(r.task), escape(r.metric), fmt(r.a), fmt(r.b), fmt(r.delta, True))
    console.print(table)
    for warning in scoring_differences(a, b):
        console.print(f"[yellow]注意：[/]{escape(warning)}")
    if html is not None:
        write_atomic(html, render_html(a, b, rows))
        console.print(f"HTML 报告已写入 {html}")


@eval_app.command("list")
def list_cmd() -> None:
    """列出已保存的评测。"""
    from finassist.evaluate import list_runs

    runs = list_runs(common.settings().home)
    if not runs:
        console.print("还没有评测记录。用 finassist eval run 任务文件 --model 模型名 开始。")
        return
    table = Table(title="评测记录")
    table.add_column("编号", no_wrap=True)  # the id is what a user copies into compare
    for col in ("模型", "时间", "任务"):
        table.add_column(col)
    for r in runs:
        tasks = "，".join(f"{t.name}={t.metrics.get(t.primary, 0):.3f}" for t in r.results)
        table.add_row(r.run_id, escape(r.model), r.created, escape(tasks))
    console.print(table)
