"""Task files, the ``Task`` protocol, the registry of task kinds and the thing evaluated.

A task file is plain JSONL, UTF-8, one example per line. Its kind is named by an optional first
line ``{"task": "classification", "name": "...", ...options}`` (or a ``task`` field on the
examples), else read from the fields (``A``/``answer`` -> multiple_choice, ``entities`` -> ner,
``relevant`` -> retrieval, ``label`` -> classification, ``reference`` -> generation).

>>> parse_lines(['{"text": "茅台还能拿吗", "label": "stock"}'], "t.jsonl").kind
'classification'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from finassist.errors import InvalidInput, add_unique
from finassist.llm.types import ChatBackend, Message

if TYPE_CHECKING:
    from finassist.evaluate.bertscore import BertScorer


class TaskFileError(InvalidInput):
    """A task file cannot be read: the message names the file and the line."""


@dataclass
class TaskFile:
    """A parsed task file: its name, kind, header options and examples (with line numbers)."""

    path: str
    name: str
    kind: str
    options: dict[str, Any]
    records: list[dict[str, Any]]
    lines: list[int] = field(default_factory=list)


@dataclass
class TaskResult:
    """One task's outcome: ``metrics`` (0–1 each), the ``primary`` one, per-example ``items``."""

    name: str
    kind: str
    n: int
    metrics: dict[str, float]
    primary: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "n": self.n,
            "metrics": self.metrics,
            "primary": self.primary,
            "items": self.items,
        }


@dataclass
class Subject:
    """What is evaluated: ``backend`` None means the offline finassist models.

    ``assistant`` answers generation and groundedness questions with evidence when given;
    ``kb`` serves retrieval; ``judge`` scores answers for the judge task; ``bertscore``, when
    given, adds BERTScore to the generation task.
    """

    name: str = "offline"
    backend: ChatBackend | None = None
    assistant: Any = None
    kb: Any = None
    judge: ChatBackend | None = None
    manager_id: str = "M001"
    bertscore: BertScorer | None = None

    @property
    def offline(self) -> bool:
        return self.backend is None

    def complete(self, messages: list[Message]) -> str:
        """The model's reply text (the offline engine says that no model is configured)."""
        from finassist.llm.offline import OfflineBackend

        backend = self.backend or OfflineBackend()
        return backend.chat(messages).content

    def answer(self, question: str) -> tuple[str, list[Any]]:
        """An answer and its evidence: the assistant's when there is one, else the model's."""
        if self.assistant is not None:
            reply = self.assistant.ask(question, manager_id=self.manager_id, record=False)
            return reply.text, list(reply.evidence)
        return self.complete([Message.user(question)]), []


class Task(Protocol):
    """A task kind: the fields each example needs, and how to score a subject on examples."""

    kind: str
    required: tuple[str, ...]

    def evaluate(self, task: TaskFile, subject: Subject) -> TaskResult:
        """Run ``subject`` on every example of ``task`` and score it."""
        ...


_TASKS: dict[str, Callable[[], Task]] = {}


def register_task(kind: str) -> Callable[[Callable[[], Task]], Callable[[], Task]]:
    """Decorator: make ``factory()`` build the task of ``kind``."""

    def wrap(factory: Callable[[], Task]) -> Callable[[], Task]:
        add_unique(_TASKS, kind, factory, "评测任务类型")
        return factory

    return wrap


def task_kinds() -> list[str]:
    """Every registered task kind."""
    import finassist.evaluate.kinds  # noqa: F401  (registers the built-in kinds)

    return sorted(_TASKS)


def get_task(kind: str) -> Task:
    """The task of ``kind``; :class:`TaskFileError` naming the kinds there are otherwise."""
    kinds = task_kinds()
    if kind not in _TASKS:
        raise TaskFileError(f"评测任务类型「{kind}」不存在。可用：{'、'.join(kinds)}。")
    return _TASKS[kind]()


def _infer(record: dict[str, Any]) -> str | None:
    if "task" in record:
        return str(record["task"])
    if "answer" in record and ("A" in record or "options" in record):
        return "multiple_choice"
    for key, kind in (
        ("entities", "ner"),
        ("relevant", "retrieval"),
        ("label", "classification"),
        ("reference", "generation"),
    ):
        if key in record:
            return kind
    return None


def parse_lines(lines: Sequence[str], path: str) -> TaskFile:
    """Parse the lines of a task file; every problem names the file and the line."""
    options: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskFileError(
                f"{path} 第 {number} 行不是合法的 JSON（{exc.msg}，第 {exc.colno} 列）。"
            ) from exc
        if not isinstance(value, dict):
            raise TaskFileError(f"{path} 第 {number} 行应为 JSON 对象（{{...}}）。")
        header = "task" in value and set(value) <= {"task", "name", *_OPTION_KEYS}
        if header and not records and not options:
            options = value
            continue
        records.append(value)
        numbers.append(number)
    if not records:
        raise TaskFileError(f"{path} 中没有评测样例。")
    kind = str(options.get("task") or _infer(records[0]) or "")
    if not kind:
        raise TaskFileError(
            f"{path} 第 {numbers[0]} 行无法判断任务类型，请在首行写明，"
            '如 {"task": "classification"}。'
        )
    task = get_task(kind)
    for record, number in zip(records, numbers, strict=True):
        missing = [f for f in task.required if f not in record or record[f] in (None, "")]
        if missing:
            raise TaskFileError(
                f"{path} 第 {number} 行缺少字段：{'、'.join(missing)}（{kind} 任务需要 "
                f"{'、'.join(task.required)}）。"
            )
    name = str(options.get("name") or Path(path).stem)
    return TaskFile(path, name, kind, options, records, numbers)


_OPTION_KEYS = ("label_set", "k", "description")


def load_task_file(path: Path) -> TaskFile:
    """Read and check a task file (UTF-8 JSONL); a GBK file is named with its first bad line."""
    if not path.is_file():
        raise TaskFileError(f"找不到评测任务文件 {path}。")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines: list[str] = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(chunk.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise TaskFileError(
                f"{path} 第 {number} 行不是 UTF-8 编码（可能是 GBK），请将文件另存为 UTF-8 后重试。"
            ) from exc
    return parse_lines(lines, str(path))
