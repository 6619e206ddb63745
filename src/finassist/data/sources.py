"""Stage 10 sources: knowledge samples from documents, structured samples from the database.

Knowledge documents are read and chunked exactly as the knowledge base (``finassist kb``) reads
them (:mod:`finassist.kb.readers`, :mod:`finassist.kb.chunking`): ``.txt``, ``.md``, ``.html``,
``.pdf``, ``.docx`` and ``.jsonl`` (``{"title": ..., "text": ...}`` per line). Each passage becomes
one sample: a question (from a template, or from the model when one is configured) and the
passage as the answer.

Structured samples are the JSON of ``recommend_products`` for enterprises of the database, run
as an administrator (who sees all enterprises), so a model learns to answer in that schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from finassist.data.llm import generate_question
from finassist.data.readers import ReadReport
from finassist.data.records import Sample
from finassist.data.sessions import sample_id
from finassist.errors import FinassistError, InvalidInput
from finassist.kb.chunking import OVERLAP_CHARS, chunk_sections
from finassist.kb.readers import READERS, IngestError, read_file
from finassist.kb.types import DEFAULT_KIND
from finassist.llm.types import ChatBackend


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


def read_passages(
    paths: Iterable[Path], report: ReadReport, max_chars: int = 600, min_chars: int = 20
) -> Iterator[Passage]:
    """Passages of at most about ``max_chars`` of the knowledge files (directories are searched
    for every suffix the knowledge base reads). A file that cannot be read is counted in
    ``report`` with the reason, and reading goes on."""
    for path in _knowledge_files(paths):
        try:
            docs = read_file(path, DEFAULT_KIND)
        except IngestError as exc:
            report.add_bad(str(path), 0, f"知识文档无法读取：{exc}")
            continue
        for n, doc in enumerate(docs, start=1):
            name = path.stem if len(docs) == 1 else f"{path.stem}:{n}"
            chunks = chunk_sections(
                doc.sections,
                target_chars=max_chars // 2,
                max_chars=max_chars,
                overlap_chars=min(OVERLAP_CHARS, max_chars // 8),
            )
            for chunk in chunks:
                if len(chunk.text) >= min_chars:
                    title = chunk.heading.rsplit(" / ", 1)[-1] or doc.title
                    yield Passage(name, title, chunk.text)


def _knowledge_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in READERS))
        elif path.is_file() and path.suffix.lower() in READERS:
            files.append(path)
        elif path.is_file():
            known = "、".join(sorted(READERS))
            raise InvalidInput(f"不支持的知识文档类型：{path}（支持 {known}）")
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
