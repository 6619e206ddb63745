"""Stage 10 sources: knowledge samples from documents, structured samples from the database.

Knowledge documents are ``.md``, ``.txt`` or ``.jsonl`` files (``{"title": ..., "text": ...}`` per
line). Documents of the knowledge base (``finassist kb``) can be exported to such files and fed
here. Each passage becomes one sample: a question (from a template, or from the model when one
is configured) and the passage as the answer.

Structured samples are the JSON of ``recommend_products`` for enterprises of the database, run
as an administrator (who sees all enterprises), so a model learns to answer in that schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from finassist.data.llm import generate_question
from finassist.data.readers import ReadReport, detect_encoding
from finassist.data.records import Sample
from finassist.data.sessions import sample_id
from finassist.errors import FinassistError, InvalidInput
from finassist.llm.types import ChatBackend

KNOWLEDGE_SUFFIXES = (".md", ".txt", ".jsonl")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@lru_cache(maxsize=1)
def templates() -> dict[str, list[str]]:
    """Question templates (``knowledge`` with ``{title}``, ``structured`` with ``{name}``)."""
    text = resources.files("finassist.data").joinpath("data/templates.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Passage:
    """A piece of a knowledge document: its document, title (heading or file name) and text."""

    doc: str
    title: str
    text: str


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    return raw.decode(detect_encoding(raw[:262144]), errors="replace").replace("\r\n", "\n")


def _chunks(text: str, max_chars: int) -> Iterator[str]:
    """Paragraph-aligned pieces of at most ``max_chars`` (a longer paragraph is cut)."""
    current = ""
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not para:
            continue
        while len(para) > max_chars:
            if current:
                yield current
                current = ""
            yield para[:max_chars]
            para = para[max_chars:]
        if current and len(current) + len(para) + 1 > max_chars:
            yield current
            current = para
        else:
            current = f"{current}\n{para}" if current else para
    if current:
        yield current


def _markdown_sections(text: str, default_title: str) -> Iterator[tuple[str, str]]:
    title, lines = default_title, []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            if any(x.strip() for x in lines):
                yield title, "\n".join(lines)
            title, lines = match.group(2).strip(), []
        else:
            lines.append(line)
    if any(x.strip() for x in lines):
        yield title, "\n".join(lines)


def read_passages(
    paths: Iterable[Path], report: ReadReport, max_chars: int = 600, min_chars: int = 20
) -> Iterator[Passage]:
    """Passages of the knowledge files (directories are searched for .md/.txt/.jsonl)."""
    for path in _knowledge_files(paths):
        doc = path.stem
        if path.suffix.lower() == ".jsonl":
            for number, line in enumerate(_read_text(path).splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    text = data.get("text") or data.get("content")
                    if not isinstance(text, str):
                        raise ValueError("缺少 text 字段")
                except (json.JSONDecodeError, ValueError, AttributeError) as exc:
                    report.add_bad(str(path), number, f"知识文档行无效：{exc}")
                    continue
                title = str(data.get("title") or doc)
                for chunk in _chunks(text, max_chars):
                    if len(chunk) >= min_chars:
                        yield Passage(f"{doc}:{data.get('id', number)}", title, chunk)
            continue
        text = _read_text(path)
        sections = _markdown_sections(text, doc) if path.suffix.lower() == ".md" else [(doc, text)]
        for title, body in sections:
            for chunk in _chunks(body, max_chars):
                if len(chunk) >= min_chars:
                    yield Passage(doc, title, chunk)


def _knowledge_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in KNOWLEDGE_SUFFIXES)
            )
        elif path.is_file() and path.suffix.lower() in KNOWLEDGE_SUFFIXES:
            files.append(path)
        elif path.is_file():
            raise InvalidInput(f"不支持的知识文档类型：{path}（支持 .md、.txt、.jsonl）")
        else:
            raise InvalidInput(f"知识文档不存在：{path}")
    return files


def knowledge_samples(
    passages: Iterable[Passage], backend: ChatBackend | None, system: str
) -> Iterator[Sample]:
    """One sample per passage: a question (model or template) and the passage as the answer."""
    questions = templates()["knowledge"]
    for n, passage in enumerate(passages):
        question = ""
        if backend is not None:
            question = generate_question(backend, passage.text)
        if not question:
            question = questions[n % len(questions)].format(title=passage.title)
        yield Sample(
            id=sample_id("knowledge", passage.doc, passage.title, str(n)),
            kind="knowledge",
            group=f"kb:{passage.doc}",
            messages=[
                {"role": "user", "content": question},
                {"role": "assistant", "content": passage.text},
            ],
            system=system,
            meta={
                "source": passage.doc,
                "question": "model" if backend is not None else "template",
            },
        )


def structured_samples(
    db: Any, as_of: date | None, limit: int, system: str, failures: dict[str, int]
) -> Iterator[Sample]:
    """Up to ``limit`` samples: a recommendation question and the tool's JSON, one per
    (enterprise, question template). Enterprises the tool cannot assess are counted in
    ``failures`` by reason and skipped."""
    from sqlalchemy import select

    from finassist.finance.base import Caller, ToolContext, get_tool, jsonable
    from finassist.store.schema import enterprises

    if limit <= 0:
        return
    db.check_schema()
    day = as_of or db.data_as_of()
    if day is None:
        raise InvalidInput("数据库中没有示例数据，无法生成结构化样本。请先运行 finassist db seed。")
    with db.read() as conn:
        rows = conn.execute(
            select(enterprises.c.id, enterprises.c.name, enterprises.c.short_name).order_by(
                enterprises.c.id
            )
        ).all()
    tool = get_tool("recommend_products")
    ctx = ToolContext(db=db, caller=Caller("A001", is_admin=True), as_of=day)
    questions = templates()["structured"]
    answers: dict[str, str | None] = {}
    made = 0
    for round_, template in enumerate(questions):
        for eid, name, short in rows:
            if made >= limit:
                return
            if eid not in answers:
                try:
                    result = tool.run(ctx, {"enterprise_id": eid})
                    answers[eid] = json.dumps(jsonable(result.data), ensure_ascii=False)
                except FinassistError as exc:
                    answers[eid] = None
                    reason = str(exc)[:60]
                    failures[reason] = failures.get(reason, 0) + 1
            answer = answers[eid]
            if answer is None:
                continue
            made += 1
            yield Sample(
                id=sample_id("structured", eid, str(round_)),
                kind="structured",
                group=f"enterprise:{eid}",
                messages=[
                    {
                        "role": "user",
                        "content": template.format(name=name if round_ % 2 == 0 else short),
                    },
                    {"role": "assistant", "content": answer},
                ],
                system=system,
                meta={"tool": "recommend_products", "enterprise_id": eid},
            )
