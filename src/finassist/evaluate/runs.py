"""Evaluation runs: run task files on a subject, store the results, list them, compare two.

A run is a folder ``<home>/eval/runs/<run_id>/`` with ``run.json`` (model, time, the metrics of
every task) and one ``NN-<task>.json`` per task with the per-example details; every file is written
atomically. :func:`compare` gives the before/after table per task and overall;
:func:`render_html` the same as an HTML page with an SVG bar chart.
"""

from __future__ import annotations

import html
import io
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from finassist.errors import NotFound
from finassist.evaluate.tasks import Subject, TaskFile, TaskResult, get_task
from finassist.fileio import write_atomic


def runs_dir(home: Path) -> Path:
    """Where runs are stored under the finassist home."""
    return home / "eval" / "runs"


@dataclass
class Run:
    """A stored run: its id, the model, when, and each task's result."""

    run_id: str
    model: str
    created: str
    results: list[TaskResult] = field(default_factory=list)
    # How scores were computed beyond the model, e.g. {"bertscore": "<model dir>（最后一层）"}:
    # two runs scored differently are not comparable on those metrics.
    notes: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "created": self.created,
            "notes": self.notes,
            "tasks": {
                r.name: {"kind": r.kind, "n": r.n, "primary": r.primary, "metrics": r.metrics}
                for r in self.results
            },
        }


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_.") or "task"


def run_tasks(
    tasks: Sequence[TaskFile], subject: Subject, *, limit: int | None = None
) -> list[TaskResult]:
    """Score ``subject`` on each task (the first ``limit`` examples of each, if given)."""
    results = []
    for task in tasks:
        if limit is not None:
            task = TaskFile(
                task.path,
                task.name,
                task.kind,
                task.options,
                task.records[:limit],
                task.lines[:limit],
            )
        results.append(get_task(task.kind).evaluate(task, subject))
    return results


def save_run(
    home: Path,
    model: str,
    results: list[TaskResult],
    *,
    now: datetime | None = None,
    notes: dict[str, str] | None = None,
) -> Run:
    """Store ``results`` (and ``notes`` on how they were scored) as a new run and return it."""
    now = now or datetime.now()
    run_id = f"{now:%Y%m%d-%H%M%S}-{_slug(model)}-{secrets.token_hex(2)}"
    run = Run(run_id, model, now.isoformat(timespec="seconds"), results, dict(notes or {}))
    folder = runs_dir(home) / run_id
    for number, result in enumerate(results, start=1):  # numbered: names may repeat
        write_atomic(
            folder / f"{number:02d}-{_slug(result.name)}.json",
            json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=str),
        )
    write_atomic(folder / "run.json", json.dumps(run.summary(), ensure_ascii=False, indent=2))
    return run


def load_run(home: Path, run_id: str) -> Run:
    """A stored run by id (or a unique prefix of one)."""
    root = runs_dir(home)
    matches = [p for p in root.glob(f"{run_id}*") if (p / "run.json").is_file()] if run_id else []
    exact = [p for p in matches if p.name == run_id]
    if exact:
        matches = exact
    if len(matches) != 1:
        hint = "有多个评测记录匹配" if matches else "找不到评测记录"
        raise NotFound(f"{hint} {run_id}，请用 finassist eval list 查看。")
    data = json.loads((matches[0] / "run.json").read_text(encoding="utf-8"))
    results = [
        TaskResult(name, t["kind"], t["n"], t["metrics"], t["primary"])
        for name, t in data["tasks"].items()
    ]
    return Run(data["run_id"], data["model"], data["created"], results, data.get("notes") or {})


def scoring_differences(run_a: Run, run_b: Run) -> list[str]:
    """Warnings for what two runs scored differently (e.g. BERTScore with another model)."""
    return [
        f"两次评测的 {key} 不同：{run_a.notes.get(key, '未使用')} ↔ {run_b.notes.get(key, '未使用')}，"
        "相关指标不可直接比较。"
        for key in sorted({*run_a.notes, *run_b.notes})
        if run_a.notes.get(key) != run_b.notes.get(key)
    ]


def list_runs(home: Path) -> list[Run]:
    """Every stored run, newest first."""
    root = runs_dir(home)
    if not root.is_dir():
        return []
    runs = [load_run(home, p.name) for p in root.iterdir() if (p / "run.json").is_file()]
    return sorted(runs, key=lambda r: (r.created, r.run_id), reverse=True)


@dataclass(frozen=True)
class Row:
    """One line of a comparison: a task's metric before (a) and after (b)."""

    task: str
    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


OVERALL = "总体"


def compare(run_a: Run, run_b: Run) -> list[Row]:
    """Every metric of every task in either run, then the overall mean of the primary metrics
    over the tasks both runs have."""
    a = {r.name: r for r in run_a.results}
    b = {r.name: r for r in run_b.results}
    rows: list[Row] = []
    primaries: list[tuple[float, float]] = []
    for name in [*a, *(n for n in b if n not in a)]:
        ra, rb = a.get(name), b.get(name)
        keys = list(dict.fromkeys([*(ra.metrics if ra else {}), *(rb.metrics if rb else {})]))
        for key in keys:
            rows.append(
                Row(
                    name,
                    key,
                    ra.metrics.get(key) if ra else None,
                    rb.metrics.get(key) if rb else None,
                )
            )
        if ra and rb and ra.primary in ra.metrics and ra.primary in rb.metrics:
            primaries.append((ra.metrics[ra.primary], rb.metrics[ra.primary]))
    if primaries:
        rows.append(
            Row(
                OVERALL,
                "primary_mean",
                sum(p[0] for p in primaries) / len(primaries),
                sum(p[1] for p in primaries) / len(primaries),
            )
        )
    return rows


def fmt(value: float | None, signed: bool = False) -> str:
    """A figure for the table: four decimals, '—' when absent."""
    if value is None:
        return "—"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _svg_chart(rows: list[Row], label_a: str, label_b: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    shown = [r for r in rows if r.a is not None and r.b is not None and r.metric != "claims"]
    fig = Figure(figsize=(max(6.0, 0.9 * len(shown) + 2), 4))
    ax = fig.subplots()
    xs = range(len(shown))
    ax.bar([x - 0.2 for x in xs], [r.a or 0 for r in shown], 0.4, label="A")
    ax.bar([x + 0.2 for x in xs], [r.b or 0 for r in shown], 0.4, label="B")
    from finassist.finance.charts import FontMissing, find_cjk_font

    try:
        family: str | None = find_cjk_font().family
    except FontMissing:  # no Chinese font: number the tasks rather than draw empty boxes
        family = None
    names = [r.task if family or r.task.isascii() else f"T{i + 1}" for i, r in enumerate(shown)]
    ax.set_xticks(list(xs))
    ax.set_xticklabels(
        [f"{n}\n{r.metric}" for n, r in zip(names, shown, strict=True)],
        fontsize=7,
        fontfamily=family or "sans-serif",
    )
    ax.legend()
    ax.set_ylabel("score")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.find("<svg") :]


def render_html(run_a: Run, run_b: Run, rows: list[Row]) -> str:
    """A self-contained HTML report: the table and the bar chart (inline SVG)."""
    body = "\n".join(
        f"<tr><td>{html.escape(r.task)}</td><td>{html.escape(r.metric)}</td>"
        f"<td>{fmt(r.a)}</td><td>{fmt(r.b)}</td><td>{fmt(r.delta, True)}</td></tr>"
        for r in rows
    )
    a, b = html.escape(run_a.run_id), html.escape(run_b.run_id)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>评测对比 {a} → {b}</title>"
        "<style>table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        "</style></head><body>"
        f"<h1>评测对比</h1><p>A：{a}（模型 {html.escape(run_a.model)}）<br>"
        f"B：{b}（模型 {html.escape(run_b.model)}）</p>"
        "<table><tr><th>任务</th><th>指标</th><th>A</th><th>B</th><th>变化</th></tr>"
        f"{body}</table><h2>图示</h2>{_svg_chart(rows, a, b)}</body></html>"
    )
