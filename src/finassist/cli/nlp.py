"""``finassist nlp intent | sentiment | ner``: the language tasks on their own.

Each command takes one TEXT or ``--file F.jsonl`` (one ``{"text": ...}`` per line; UTF-8 or GBK)
and prints a table, or with ``--json`` / ``--file`` one JSON object per text. ``--model NAME``
runs the task through a model configured in finassist.toml instead of the offline models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from finassist.cli import common
from finassist.cli.common import console
from finassist.errors import InvalidInput
from finassist.fileio import decode_text
from finassist.llm.types import ChatBackend

nlp_app = typer.Typer(
    help="金融文本分析：意图识别、情感分析、实体识别（离线模型，或指定已配置的大模型）。",
    no_args_is_help=True,
)

TextArg = Annotated[str | None, typer.Argument(help="要分析的文本（或用 --file）")]
FileOpt = Annotated[
    Path | None, typer.Option("--file", "-f", help='JSONL 文件，每行一个 {"text": "..."}')
]
JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="用 finassist.toml 中配置的哪个大模型（默认：离线模型）"),
]
MAX_TEXT_CHARS = 20_000


def read_texts(text: str | None, file: Path | None) -> list[str]:
    """The texts to analyse: the argument, or every line of a JSONL file (checked first, so a
    bad line stops the run before anything is printed)."""
    if (text is None) == (file is None):
        raise InvalidInput("请给出一段文本，或用 --file 指定 JSONL 文件（二者选一）。")
    if text is not None:
        return [_checked(text, "输入文本")]
    assert file is not None
    if not file.is_file():
        raise InvalidInput(f"找不到文件 {file}。")
    content = decode_text(file.read_bytes(), str(file))
    texts = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{file} 第 {number} 行不是合法的 JSON：{exc.msg}。") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InvalidInput(f'{file} 第 {number} 行缺少字符串字段 "text"。')
        texts.append(_checked(row["text"], f"{file} 第 {number} 行"))
    if not texts:
        raise InvalidInput(f"{file} 中没有任何文本。")
    return texts


def _checked(text: str, where: str) -> str:
    from finassist.nlp.normalize import normalize_text

    clean = normalize_text(text)
    if not clean:
        raise InvalidInput(f"{where}为空，请提供要分析的文本。")
    if len(clean) > MAX_TEXT_CHARS:
        raise InvalidInput(
            f"{where}过长（{len(clean)} 字），请分段后再分析（每段不超过 {MAX_TEXT_CHARS} 字）。"
        )
    return clean


def _model(model: str | None) -> ChatBackend | None:
    """The configured model ``model``, or None (the offline models)."""
    if model is None:
        return None
    from finassist.llm import get_backend

    return get_backend(model, common.settings())


def _emit(rows: Iterator[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(escape(_cell(row.get(c))) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "；".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return f"{value.get('text', '')}（{value.get('label', '')}）"
    return "" if value is None else str(value)


@nlp_app.command()
def intent(
    text: TextArg = None, file: FileOpt = None, as_json: JsonOpt = False, model: ModelOpt = None
) -> None:
    """意图识别：投资咨询、供应链金融、知识问答、闲聊、必须转人工；不确定时为“未识别”。"""
    from finassist.nlp.intent import IntentRouter
    from finassist.nlp.llm_mode import llm_intent

    texts = read_texts(text, file)
    router = IntentRouter.default()
    backend = _model(model)

    def rows() -> Iterator[dict[str, Any]]:
        for t in texts:
            verdict = llm_intent(t, router, backend) if backend else router.classify(t)
            yield {
                "text": t,
                "label": verdict.label,
                "score": verdict.score,
                "intent": verdict.name,
                "group": router.groups.get(verdict.group, ""),
            }

    _emit(rows(), as_json or file is not None, ["text", "label", "score", "intent", "group"])


@nlp_app.command()
def sentiment(
    text: TextArg = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
    model: ModelOpt = None,
    targets: Annotated[
        bool, typer.Option("--targets", help="同时给出针对每家公司/股票/指数/行业的情感")
    ] = False,
) -> None:
    """情感分析：积极 / 中性 / 消极（新闻、公告、投资者评论）。"""
    from finassist.nlp.llm_mode import llm_sentiment
    from finassist.nlp.sentiment import SentimentAnalyzer

    texts = read_texts(text, file)
    backend = _model(model)
    analyzer = SentimentAnalyzer.default()

    def rows() -> Iterator[dict[str, Any]]:
        for t in texts:
            verdict = llm_sentiment(t, backend) if backend else analyzer.analyze(t)
            row: dict[str, Any] = {"text": t, "label": verdict.label, "score": verdict.score}
            if targets:
                row["targets"] = [
                    {
                        "text": x.target,
                        "start": x.start,
                        "end": x.end,
                        "label": x.label,
                        "score": x.score,
                    }
                    for x in analyzer.analyze_targets(t)
                ]
            yield row

    columns = ["text", "label", "score", *(["targets"] if targets else [])]
    _emit(rows(), as_json or file is not None, columns)


@nlp_app.command()
def ner(
    text: TextArg = None, file: FileOpt = None, as_json: JsonOpt = False, model: ModelOpt = None
) -> None:
    """实体识别：公司、股票（名称与代码）、指数、基金、行业、金额、百分比、日期期间、财务指标、人物。"""
    from finassist.nlp.llm_mode import llm_entities
    from finassist.nlp.ner import EntityRecognizer

    texts = read_texts(text, file)
    backend = _model(model)
    recognizer = EntityRecognizer.default()

    def rows() -> Iterator[dict[str, Any]]:
        for t in texts:
            found = llm_entities(t, backend) if backend else recognizer.recognize(t)
            yield {"text": t, "entities": [e.to_json() for e in found]}

    if as_json or file is not None:
        _emit(rows(), True, [])
        return
    table = Table("实体", "类型", "位置", "规范名/属性")
    for row in rows():
        for e in row["entities"]:
            extra = " ".join(f"{k}={v}" for k, v in e.get("attrs", {}).items())
            table.add_row(
                escape(e["text"]),
                e["label"],
                f"{e['start']}-{e['end']}",
                escape(f"{e['canonical']} {extra}".strip()),
            )
    console.print(table)
