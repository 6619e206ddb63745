"""``finassist models list | show``: the trained and merged versions, and the configured models.

A version is what ``finassist train sft|pt`` and ``finassist train merge`` register; each shows
its config, data manifest hash, training metrics, exports and the evaluation runs made with
``finassist eval run ... --model NAME``. Models configured in ``finassist.toml`` are listed too
(marked 配置), since ``--model`` takes either kind of name.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console
from finassist.errors import FinassistError, NotFound

models_app = typer.Typer(
    help="模型版本：列出并查看训练、合并得到的版本（配置、数据、指标、评测）。",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]
CONFIGURED = "配置"
HASH_SHOWN = 12  # characters of the data hash in the table
METRICS_SHOWN = 3


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _evaluations(runs: list[Any], name: str) -> list[dict[str, Any]]:
    """The evaluation runs of model ``name``, newest first, as stored summaries."""
    return [r.summary() for r in runs if r.model == name]


def _scores(run: dict[str, Any] | None) -> str:
    """``task=primary score`` of every task of a run."""
    if run is None:
        return "—"
    return "，".join(
        f"{task}={t['metrics'][t['primary']]:.3f}"
        for task, t in run["tasks"].items()
        if t["primary"] in t["metrics"]
    )


def _main_metrics(metrics: dict[str, Any]) -> str:
    """The losses first, then other numbers; at most a few."""
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    keys = sorted(numbers, key=lambda k: ("loss" not in k, k))[:METRICS_SHOWN]
    return "，".join(f"{k}={numbers[k]:.4g}" for k in keys) or "—"


def _configured(name: str, config: Any) -> dict[str, Any]:
    """A configured model as a row: no secrets (only the name of the key's variable)."""
    return {
        "name": name,
        "kind": CONFIGURED,
        "backend": config.backend,
        "base_model": config.path or config.model or config.base_url or "",
        "parent": None,
        "created": None,
        "data_hash": "",
        "metrics": {},
        "config": config.model_dump(exclude_defaults=True),
    }


def _entries(settings: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    from finassist.evaluate import list_runs
    from finassist.llm.versions import list_versions

    runs = list_runs(settings.home)
    rows = [{**v.to_json(), "source": "version"} for v in list_versions(settings.home)]
    names = {r["name"] for r in rows}
    rows += [
        {**_configured(n, c), "source": "config"}
        for n, c in settings.models.items()
        if n not in names
    ]
    serving = _serving(settings, [r["name"] for r in rows]) if rows else {}
    for row in rows:
        evaluations = _evaluations(runs, row["name"])
        row["latest_eval"] = evaluations[0] if evaluations else None
        row["serving"] = serving.get(row["name"])
    return rows, runs


@models_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """列出模型版本与已配置的模型：类型、基础模型、父版本、数据哈希、训练指标、最近评测。"""
    rows, _ = _entries(common.settings())
    if as_json:
        _emit(rows)
        return
    if not rows:
        console.print(
            "还没有模型版本。用 finassist train sft 配置文件 训练，或在 finassist.toml 中配置模型。"
        )
        return
    table = Table(title="模型版本")
    table.add_column("名称", no_wrap=True)
    columns = ("类型", "基础模型", "父版本", "创建时间", "数据哈希", "训练指标", "最近评测", "线上")
    for column in columns:
        table.add_column(column)
    for row in rows:
        kind = row["kind"] if row["source"] == "version" else f"{CONFIGURED}（{row['backend']}）"
        table.add_row(
            escape(row["name"]),
            escape(kind),
            escape(row["base_model"] or "—"),
            escape(row["parent"] or "—"),
            row["created"] or "—",
            row["data_hash"][:HASH_SHOWN] or "—",
            escape(_main_metrics(row["metrics"])),
            escape(_scores(row["latest_eval"])),
            _usage_cell(row["serving"]),
        )
    console.print(table)


@models_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="版本名或配置的模型名（见 models list）")],
    as_json: JsonOpt = False,
) -> None:
    """查看一个版本：配置、训练数据与哈希、指标、导出文件、派生版本与全部评测。"""
    from finassist.evaluate import list_runs
    from finassist.llm.versions import find_version, list_versions

    settings = common.settings()
    version = find_version(settings.home, name)
    if version is None and name not in settings.models:
        known = [v.name for v in list_versions(settings.home)] + list(settings.models)
        raise NotFound(
            f"没有名为 {name} 的模型版本或已配置模型。已有：{'、'.join(known) or '（还没有）'}。"
            "用 finassist models list 查看。"
        )
    if version is not None:
        data = {**version.to_json(), "source": "version"}
        data["children"] = [v.name for v in list_versions(settings.home) if v.parent == name]
    else:
        data = {**_configured(name, settings.models[name]), "source": "config"}
    data["evaluations"] = _evaluations(list_runs(settings.home), name)
    data["serving"] = _serving(settings, [name]).get(name)
    if as_json:
        _emit(data)
        return
    _print_details(data)


def _serving(settings: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per name, the turns it answered and their ratings; empty without a usable database."""
    from finassist.assistant.session import model_usage

    db = common.database(settings)
    try:
        db.check_schema()
        return {name: model_usage(db, name).to_json() for name in names}
    except FinassistError:
        return {}  # no database yet (or another schema version): nothing served to show
    finally:
        db.dispose()


def _usage_cell(serving: dict[str, Any] | None) -> str:
    if not serving or not serving["turns"]:
        return "—"
    mean = serving["mean_score"]
    return f"{serving['turns']:,} 轮" + (f"，{mean:.2f} 分" if mean is not None else "")


def _print_serving(serving: dict[str, Any] | None) -> None:
    if serving is None or not serving["turns"]:
        return
    mean = serving["mean_score"]
    console.print(
        f"[bold]线上使用[/]：回答 {serving['turns']:,} 轮（{serving['sessions']:,} 个会话），"
        f"评分 {serving['rated']:,} 条"
        + (f"，平均 {mean:.2f} 分（1–5）" if mean is not None else "")
        + f"；{serving['first']} 至 {serving['last']}"
    )


def _print_details(data: dict[str, Any]) -> None:
    fields = [
        ("名称", data["name"]),
        (
            "类型",
            data["kind"] if data["source"] == "version" else f"{CONFIGURED}（{data['backend']}）",
        ),
        ("基础模型", data.get("base_model")),
        ("LoRA 适配器", data.get("adapter")),
        ("完整权重", data.get("path")),
        ("父版本", data.get("parent")),
        ("派生版本", "、".join(data.get("children") or [])),
        ("创建时间", data.get("created")),
        ("训练数据", "、".join(data.get("data") or [])),
        ("数据哈希", data.get("data_hash")),
    ]
    for label, value in fields:
        if value:
            console.print(f"[bold]{label}[/]：{escape(str(value))}")
    if data.get("metrics"):
        table = Table("指标", "值", title="训练指标")
        for key, value in data["metrics"].items():
            table.add_row(
                escape(key), escape(f"{value:.6g}" if isinstance(value, float) else str(value))
            )
        console.print(table)
    if data.get("exports"):
        table = Table("格式", "位置", title="导出")
        for kind, where in data["exports"].items():
            table.add_row(escape(kind), escape(where))
        console.print(table)
    if data.get("config"):
        console.print("[bold]配置[/]：")
        console.print(escape(json.dumps(data["config"], ensure_ascii=False, indent=2, default=str)))
    _print_serving(data.get("serving"))
    if not data["evaluations"]:
        console.print(
            f"还没有评测。用 finassist eval run 任务文件 --model {escape(data['name'])} 评测。"
        )
        return
    table = Table(title="评测记录")
    table.add_column("编号", no_wrap=True)
    for column in ("时间", "任务（主要指标）"):
        table.add_column(column)
    for run in data["evaluations"]:
        table.add_row(run["run_id"], run["created"], escape(_scores(run)))
    console.print(table)
