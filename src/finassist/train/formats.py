"""Training files: which files a recipe's ``data`` names, and their records as messages or text.

Conversation records come in the three formats ``finassist data build`` exports (a registry of
converters, detected per record by their keys):

- ``openai``: ``{"messages": [{"role", "content"}, ...]}`` (an optional system message first);
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt", "value"}], "system"?}``;
- ``alpaca``: ``{"instruction", "input", "output", "system"?, "history"?: [[user, assistant]]}``.

A record that cannot be used (bad JSON, unknown format, unknown role, no answer) is an error
naming ``file:line``: training on silently thinned data is worse than stopping, and the data
pipeline that writes these files never produces such records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finassist.errors import InvalidInput, NotFound
from finassist.fileio import decode_text

Messages = list[dict[str, str]]
EXPORT_FORMATS = ("openai", "sharegpt", "alpaca")  # preference order inside an export folder
CONVERSATION_SUFFIXES = (".jsonl", ".json")
TEXT_SUFFIXES = (".txt", ".md", ".jsonl", ".html", ".htm", ".pdf", ".docx")
ROLES = ("system", "user", "assistant", "tool")
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "observation": "tool",
    "tool": "tool",
}


class RecordError(ValueError):
    """A record is not a usable conversation (the caller adds file:line)."""


@dataclass(frozen=True)
class RecordFormat:
    """A conversation format: how to recognise a record and turn it into messages."""

    name: str
    detect: Callable[[dict[str, Any]], bool]
    to_messages: Callable[[dict[str, Any]], Messages]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{what} 应为字符串")
    return value


def _openai(record: dict[str, Any]) -> Messages:
    messages = record["messages"]
    if not isinstance(messages, list):
        raise RecordError("messages 应为列表")
    out = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise RecordError("messages 中每一项都要有 role 和 content")
        out.append({"role": str(m["role"]), "content": _text(m["content"], "content")})
    return out


def _sharegpt(record: dict[str, Any]) -> Messages:
    turns = record["conversations"]
    if not isinstance(turns, list):
        raise RecordError("conversations 应为列表")
    out = (
        [{"role": "system", "content": _text(record["system"], "system")}]
        if record.get("system")
        else []
    )
    for t in turns:
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise RecordError("conversations 中每一项都要有 from 和 value")
        role = _SHAREGPT_ROLES.get(str(t["from"]))
        if role is None:
            raise RecordError(f"未知的角色 from={t['from']!r}（可用：human、gpt、system）")
        out.append({"role": role, "content": _text(t["value"], "value")})
    return out


def _alpaca(record: dict[str, Any]) -> Messages:
    out = (
        [{"role": "system", "content": _text(record["system"], "system")}]
        if record.get("system")
        else []
    )
    for pair in record.get("history") or []:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise RecordError("history 中每一项应为 [问, 答]")
        out += [
            {"role": "user", "content": _text(pair[0], "history")},
            {"role": "assistant", "content": _text(pair[1], "history")},
        ]
    prompt = _text(record["instruction"], "instruction")
    extra = _text(record.get("input") or "", "input")
    out.append({"role": "user", "content": f"{prompt}\n{extra}" if extra else prompt})
    out.append({"role": "assistant", "content": _text(record["output"], "output")})
    return out


RECORD_FORMATS: dict[str, RecordFormat] = {
    f.name: f
    for f in (
        RecordFormat("openai", lambda r: "messages" in r, _openai),
        RecordFormat("sharegpt", lambda r: "conversations" in r, _sharegpt),
        RecordFormat("alpaca", lambda r: "instruction" in r and "output" in r, _alpaca),
    )
}


def check_messages(messages: Messages) -> Messages:
    """Roles known, system only first, a user turn before the first answer, at least one answer."""
    if not messages:
        raise RecordError("对话为空")
    for i, m in enumerate(messages):
        if m["role"] not in ROLES:
            raise RecordError(f"未知的角色 {m['role']!r}（可用：{'、'.join(ROLES)}）")
        if m["role"] == "system" and i > 0:
            raise RecordError("system 消息只能在对话开头")
    talk = [m["role"] for m in messages if m["role"] != "system"]
    if not talk or talk[0] != "user":
        raise RecordError("对话应以 user 消息开始（system 之后）")
    if "assistant" not in talk:
        raise RecordError("对话中没有 assistant 回复，无可训练内容")
    return messages


def to_messages(record: Any) -> Messages:
    """Messages of one record in any registered format."""
    if not isinstance(record, dict):
        raise RecordError("每条记录应为 JSON 对象")
    for fmt in RECORD_FORMATS.values():
        if fmt.detect(record):
            try:
                return check_messages(fmt.to_messages(record))
            except (KeyError, TypeError) as exc:
                raise RecordError(f"{fmt.name} 格式的记录缺少字段 {exc}") from None
    raise RecordError(
        "无法识别的记录格式（应含 messages、conversations，或 instruction 与 output）"
    )


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, parsed record) of a JSONL file, or (``file#N``, record) of a JSON array."""
    try:  # UTF-8 (with or without BOM) or GBK/GB18030, as Chinese Windows tools write them
        text = decode_text(path.read_bytes(), str(path))
    except OSError as exc:
        raise InvalidInput(f"无法读取训练数据 {path}：{exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{exc.lineno}: 不是合法的 JSON：{exc.msg}") from exc
        if not isinstance(rows, list):
            raise InvalidInput(f"{path}: .json 训练数据应为记录的数组")
        yield from ((f"{path}#{n}", row) for n, row in enumerate(rows, start=1))
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{lineno}: 不是合法的 JSON：{exc.msg}") from exc


def read_conversations(path: Path) -> Iterator[tuple[str, Messages]]:
    """(``file:line``, messages) of every record of a conversation file."""
    for where, record in _json_records(path):
        try:
            yield where, to_messages(record)
        except RecordError as exc:
            raise InvalidInput(f"{where}: {exc}") from None


def _missing(path: Path) -> NotFound:
    return NotFound(f"训练数据 {path} 不存在。")


def _export_split(folder: Path, split: str) -> Path | None:
    """``<format>/<split>.jsonl`` of an export folder (first of openai, sharegpt, alpaca)."""
    fmt = next((f for f in EXPORT_FORMATS if (folder / f / "train.jsonl").is_file()), None)
    if fmt is None:
        raise InvalidInput(
            f"目录 {folder} 不是 finassist data build 的导出目录（没有 openai/、sharegpt/ "
            "或 alpaca/ 下的 train.jsonl）。请指向导出目录，或直接列出 .jsonl 文件。"
        )
    path = folder / fmt / f"{split}.jsonl"
    return path if path.is_file() and path.stat().st_size > 0 else None


def sft_files(paths: list[str], *, split: str = "train") -> tuple[list[Path], list[Path]]:
    """(files of ``split``, validation files of the export folders) of a recipe's ``data``.

    A file is used as it is. A folder is a ``finassist data build`` export: its
    ``<format>/<split>.jsonl`` and, beside it, ``val.jsonl`` when that has records.
    """
    chosen: list[Path] = []
    val: list[Path] = []
    for value in paths:
        path = Path(value)
        if path.is_file():
            if path.suffix.lower() not in CONVERSATION_SUFFIXES:
                raise InvalidInput(f"SFT 训练数据应为 .jsonl 或 .json 文件：{path}")
            chosen.append(path)
        elif path.is_dir():
            main = _export_split(path, split)
            if main is None:
                raise InvalidInput(f"导出目录 {path} 中没有 {split}.jsonl 数据。")
            chosen.append(main)
            extra = _export_split(path, "val")
            if extra is not None:
                val.append(extra)
        else:
            raise _missing(path)
    return chosen, val


def text_files(paths: list[str]) -> list[Path]:
    """Documents for continued pre-training: files as given, folders searched recursively."""
    found: list[Path] = []
    for value in paths:
        path = Path(value)
        if path.is_file():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise InvalidInput(
                    f"不支持的预训练文本文件 {path}（支持 {'、'.join(TEXT_SUFFIXES)}）"
                )
            found.append(path)
        elif path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
            )
            if not inside:
                raise InvalidInput(
                    f"目录 {path} 中没有可用的文本文件（{'、'.join(TEXT_SUFFIXES)}）"
                )
            found += inside
        else:
            raise _missing(path)
    return found


def read_texts(path: Path, text_field: str) -> Iterator[str]:
    """The documents of one file: the whole ``.txt``/``.md``, one per ``.jsonl`` line
    (``text_field``), or what the knowledge-base readers extract (``.html``/``.pdf``/``.docx``)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for where, record in _json_records(path):
            value = record.get(text_field) if isinstance(record, dict) else None
            if not isinstance(value, str):
                raise InvalidInput(
                    f"{where}: 缺少文本字段 {text_field}（可在配置中设置 text_field）"
                )
            if value.strip():
                yield value
        return
    from finassist.kb.readers import read_file

    if suffix in (".txt", ".md"):
        try:
            text = decode_text(path.read_bytes(), str(path))
        except OSError as exc:
            raise InvalidInput(f"无法读取 {path}：{exc.strerror or exc}") from exc
        if text.strip():
            yield text
        return
    for doc in read_file(path, "report"):
        if doc.text.strip():
            yield doc.text
