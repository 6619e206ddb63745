"""Read chat exports as a stream of :class:`Message`: WeChat CSV and a generic JSONL.

Files are read row by row (a file larger than memory is fine). The encoding is detected from the
first bytes (:func:`finassist.fileio.detect_encoding`: UTF-8 with or without a BOM, else GBK read
as GB18030, its superset, or Big5/UTF-16 when clear). CRLF line
ends and newlines inside quoted fields are handled by the csv module. A row that cannot be used
is counted in :class:`ReadReport` with its line number and reason, and reading goes on.

>>> report = ReadReport()
>>> messages = list(read_messages([Path("chat.csv")], report))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from finassist.data.records import BadRow, Message
from finassist.errors import InvalidInput
from finassist.fileio import SNIFF_BYTES, detect_encoding

WECHAT_COLUMNS = (
    "id",
    "MsgSvrID",
    "type_name",
    "is_sender",
    "talker",
    "msg",
    "src",
    "CreateTime",
    "room_name",
    "is_forward",
)
REQUIRED_CSV_COLUMNS = ("type_name", "is_sender", "talker", "msg", "CreateTime")
MAX_LISTED_BAD_ROWS = 1000
SUFFIXES = (".csv", ".jsonl")

ProgressFn = Callable[[int, int], None]  # (bytes read, total bytes)


@dataclass
class ReadReport:
    """What reading found: rows, bad rows (the first 1000 listed), encodings, bytes."""

    rows: int = 0
    bad_count: int = 0
    bad: list[BadRow] = field(default_factory=list)
    bad_reasons: Counter[str] = field(default_factory=Counter)
    encodings: dict[str, str] = field(default_factory=dict)
    bytes_total: int = 0

    def add_bad(self, source: str, line: int, reason: str) -> None:
        """Count one bad row; keep it in the list while the list is short."""
        self.bad_count += 1
        self.bad_reasons[reason.split("：")[0]] += 1
        if len(self.bad) < MAX_LISTED_BAD_ROWS:
            self.bad.append(BadRow(source, line, reason))

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bad_rows": self.bad_count,
            "bad_reasons": dict(self.bad_reasons.most_common()),
            "bad_listed": [
                {"file": b.source, "line": b.line, "reason": b.reason} for b in self.bad
            ],
            "encodings": dict(self.encodings),
            "bytes": self.bytes_total,
        }


class _CountingReader(io.RawIOBase):
    """A binary file that reports how many bytes were read (for the progress bar)."""

    def __init__(self, raw: BinaryIO, progress: ProgressFn | None, total: int) -> None:
        self._raw = raw
        self._progress = progress
        self._total = total
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.done += n or 0
        if self._progress is not None:
            self._progress(self.done, self._total)
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_text(path: Path, report: ReadReport, progress: ProgressFn | None) -> io.TextIOWrapper:
    """Open ``path`` as text in its detected encoding; undecodable bytes become surrogates."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"无法读取输入文件 {path}：{exc.strerror}") from exc
    head = raw.read(SNIFF_BYTES)
    raw.seek(0)
    encoding = detect_encoding(head)
    report.encodings[str(path)] = encoding
    total = path.stat().st_size
    report.bytes_total += total
    counting = _CountingReader(raw, progress, total)
    # surrogateescape: a row with bytes that are not in the encoding is reported, not fatal.
    return io.TextIOWrapper(
        io.BufferedReader(counting, 1 << 16),
        encoding=encoding,
        errors="surrogateescape",
        newline="",
    )


_SURROGATES = re.compile("[\udc80-\udcff]")


def _has_surrogates(text: str) -> bool:
    """True when decoding left undecodable bytes in ``text`` (as surrogate escapes)."""
    return _SURROGATES.search(text) is not None


def parse_time(value: Any) -> float:
    """Epoch seconds (or milliseconds) or an ISO-like date-time string -> epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                return datetime.fromisoformat(text.replace("/", "-")).timestamp()
            except ValueError:
                raise ValueError(f"时间无法识别：{text[:30]!r}") from None
    return number / 1000 if number > 1e11 else number


def _flag(value: str, column: str) -> bool:
    text = value.strip()
    if text in {"1", "true", "True"}:
        return True
    if text in {"0", "false", "False", ""}:
        return False
    raise ValueError(f"{column} 应为 0 或 1，实际为 {text[:20]!r}")


def read_wechat_csv(
    path: Path, report: ReadReport, progress: ProgressFn | None = None
) -> Iterator[Message]:
    """Messages of a WeChat export CSV (columns as :data:`WECHAT_COLUMNS`), in file order."""
    source = str(path)
    with _open_text(path, report, progress) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"{path} 第 1 行不是有效的 CSV 表头：{exc}") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
        if missing:
            raise InvalidInput(
                f"{path} 不是微信聊天记录导出格式：缺少列 {', '.join(missing)}"
                f"（表头为：{', '.join(header[:12])}）。需要的列：{', '.join(WECHAT_COLUMNS)}。"
            )
        index = {name: i for i, name in enumerate(header)}
        width = len(header)
        line = reader.line_num
        while True:
            start = line + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line = reader.line_num
                report.add_bad(source, start, f"CSV 格式错误：{exc}")
                continue
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            report.rows += 1
            if len(row) != width:
                report.add_bad(source, start, f"列数不对：应为 {width} 列，实际 {len(row)} 列")
                continue
            if _has_surrogates("".join(row)):
                report.add_bad(source, start, f"编码错误：含有不能按 {fh.encoding} 解码的字节")
                continue
            try:
                role = "assistant" if _flag(row[index["is_sender"]], "is_sender") else "user"
                forwarded = "is_forward" in index and _flag(row[index["is_forward"]], "is_forward")
                when = parse_time(row[index["CreateTime"]])
            except ValueError as exc:
                report.add_bad(source, start, f"字段无效：{exc}")
                continue
            room = row[index["room_name"]].strip() if "room_name" in index else ""
            talker = row[index["talker"]].strip()
            if not (room or talker):
                report.add_bad(source, start, "字段无效：talker 与 room_name 均为空")
                continue
            yield Message(
                conversation=room or talker,
                role=role,  # type: ignore[arg-type]
                text=row[index["msg"]],
                time=when,
                type=row[index["type_name"]].strip(),
                forwarded=forwarded,
                msg_id=row[index["MsgSvrID"]] if "MsgSvrID" in index else "",
                line=start,
                source=source,
            )


_JSON_TEXT_KEYS = ("text", "content", "msg")
_JSON_CONV_KEYS = ("conversation", "conversation_id", "session_id", "talker", "room_name")
_JSON_TIME_KEYS = ("time", "timestamp", "create_time", "CreateTime")


def _first(data: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return None


def _json_message(data: Any) -> Message:
    """One JSONL object -> Message; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("每行应为一个 JSON 对象")
    text = _first(data, _JSON_TEXT_KEYS)
    if not isinstance(text, str):
        raise ValueError("缺少文本字段（text / content / msg）")
    conversation = _first(data, _JSON_CONV_KEYS)
    if conversation is None:
        raise ValueError("缺少会话字段（conversation / talker / room_name）")
    role = data.get("role")
    if role is None and "is_sender" in data:
        role = "assistant" if _flag(str(data["is_sender"]), "is_sender") else "user"
    if role not in ("user", "assistant"):
        raise ValueError(f"role 应为 user 或 assistant，实际为 {role!r}")
    when = _first(data, _JSON_TIME_KEYS)
    if when is None:
        raise ValueError("缺少时间字段（time / timestamp）")
    return Message(
        conversation=str(conversation),
        role=role,
        text=text,
        time=parse_time(when),
        type=str(data.get("type") or data.get("type_name") or "文本"),
        forwarded=bool(data.get("forwarded") or data.get("is_forward") in (1, "1", True)),
        msg_id=str(data.get("id", "")),
    )


def read_jsonl(
    path: Path, report: ReadReport, progress: ProgressFn | None = None
) -> Iterator[Message]:
    """Messages of a JSONL file: one object per line with text, role, conversation and time."""
    source = str(path)
    with _open_text(path, report, progress) as fh:
        for number, raw_line in enumerate(fh, start=1):
            line = raw_line.strip()
            if not line:
                continue
            report.rows += 1
            if _has_surrogates(line):
                report.add_bad(source, number, f"编码错误：含有不能按 {fh.encoding} 解码的字节")
                continue
            try:
                message = _json_message(json.loads(line))
            except json.JSONDecodeError as exc:
                report.add_bad(source, number, f"JSON 格式错误：{exc.msg}（第 {exc.colno} 列）")
                continue
            except ValueError as exc:
                report.add_bad(source, number, f"字段无效：{exc}")
                continue
            message.line = number
            message.source = source
            yield message


READERS: dict[str, Callable[[Path, ReadReport, ProgressFn | None], Iterator[Message]]] = {
    ".csv": read_wechat_csv,
    ".jsonl": read_jsonl,
}


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files to read: the files given, and the .csv/.jsonl files inside directories given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in READERS))
        elif path.is_file():
            if path.suffix.lower() not in READERS:
                raise InvalidInput(
                    f"不支持的输入文件类型：{path}（支持 {', '.join(SUFFIXES)}：微信导出 CSV 或 JSONL）"
                )
            files.append(path)
        else:
            raise InvalidInput(f"输入文件不存在：{path}")
    if not files:
        raise InvalidInput(
            "没有找到可读取的聊天记录（.csv 或 .jsonl）。请用 --input 指定文件或目录。"
        )
    return files


def read_messages(
    paths: Iterable[Path], report: ReadReport, progress: ProgressFn | None = None
) -> Iterator[Message]:
    """All messages of all input files, file after file."""
    files = expand_inputs(paths)
    sizes = [f.stat().st_size for f in files]
    total = sum(sizes)
    done_before = 0
    for path, size in zip(files, sizes, strict=True):
        base = done_before

        def file_progress(done: int, _total: int, base: int = base) -> None:
            if progress is not None:
                progress(base + done, total)

        yield from READERS[path.suffix.lower()](path, report, file_progress)
        done_before += size
