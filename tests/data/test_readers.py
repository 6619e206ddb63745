"""Reading WeChat CSV and JSONL exports: encodings, CRLF, quoted newlines, bad rows, streaming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finassist.data.chatlog import write_sample_chatlog
from finassist.data.readers import WECHAT_COLUMNS, ReadReport, read_messages
from finassist.errors import InvalidInput

HEADER = ",".join(WECHAT_COLUMNS)


def row(
    n: int, text: str, sender: int = 0, kind: str = "文本", when: str = "2025-03-01 10:00:00"
) -> str:
    quoted = '"' + text.replace('"', '""') + '"'
    return f"{n},{n}00,{kind},{sender},wxid_a,{quoted},,{when},,0"


def write(path: Path, lines: list[str], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_each_encoding_is_detected_and_read(tmp_path: Path, encoding: str) -> None:
    path = write(
        tmp_path / "chat.csv",
        [HEADER, row(1, "您好，应收账款融资需要哪些材料？"), row(2, "营业执照和财报", 1)],
        encoding,
    )
    report = ReadReport()
    messages = list(read_messages([path], report))
    assert [m.text for m in messages] == ["您好，应收账款融资需要哪些材料？", "营业执照和财报"]
    assert [m.role for m in messages] == ["user", "assistant"]
    assert report.encodings[str(path)] == {"gbk": "gb18030"}.get(encoding, encoding)


def test_crlf_and_newlines_inside_quotes_keep_line_numbers_right(tmp_path: Path) -> None:
    lines = [HEADER, row(1, "材料如下：\r\n1. 营业执照\r\n2. 财报", 1), "bad,row", row(3, "收到")]
    path = write(tmp_path / "chat.csv", lines, newline="\r\n")
    report = ReadReport()
    messages = list(read_messages([path], report))
    assert messages[0].text == "材料如下：\r\n1. 营业执照\r\n2. 财报"
    assert messages[1].text == "收到" and messages[1].line == 6
    assert report.bad_count == 1
    assert report.bad[0].line == 5 and "列数不对" in report.bad[0].reason


def test_bad_rows_are_counted_with_line_and_reason_and_reading_goes_on(tmp_path: Path) -> None:
    lines = [
        HEADER,
        row(1, "好的"),
        row(2, "x", sender=7),  # is_sender not 0/1
        row(3, "y", when="昨天"),  # time unreadable
        row(4, "最后一条"),
    ]
    path = tmp_path / "chat.csv"
    data = (
        "\n".join(lines).encode("utf-8")
        + b"\n"
        + row(5, "Z").encode("utf-8").replace(b"Z", b"\xff\xfe")
        + b"\n"
    )
    path.write_bytes(data)
    report = ReadReport()
    messages = list(read_messages([path], report))
    assert [m.text for m in messages] == ["好的", "最后一条"]
    assert [(b.line, b.reason.split("：")[0]) for b in report.bad] == [
        (3, "字段无效"),
        (4, "字段无效"),
        (6, "编码错误"),
    ]
    assert report.rows == 5


def test_a_file_that_is_not_a_wechat_export_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "other.csv", ["name,age", "张三,3"])
    with pytest.raises(InvalidInput, match="缺少列"):
        list(read_messages([path], ReadReport()))
    with pytest.raises(InvalidInput, match="不存在"):
        list(read_messages([tmp_path / "missing.csv"], ReadReport()))
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(InvalidInput, match="不支持"):
        list(read_messages([tmp_path / "x.xlsx"], ReadReport()))


def test_jsonl_messages_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    lines = [
        json.dumps(
            {"conversation": "c1", "role": "user", "text": "利率多少？", "time": 1735700000},
            ensure_ascii=False,
        ),
        "{not json",
        json.dumps({"conversation": "c1", "role": "boss", "text": "x", "time": 1}),
        json.dumps(
            {"talker": "c1", "is_sender": 1, "content": "4%左右", "time": "2025-01-01T10:00:05"},
            ensure_ascii=False,
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ReadReport()
    messages = list(read_messages([tmp_path], report))  # a directory is searched
    assert [(m.role, m.text, m.line) for m in messages] == [
        ("user", "利率多少？", 1),
        ("assistant", "4%左右", 4),
    ]
    assert [b.line for b in report.bad] == [2, 3]


def test_reading_streams_instead_of_loading_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    write_sample_chatlog(path, messages=20_000, seed=1)
    seen: list[int] = []
    stream = read_messages([path], ReadReport(), lambda done, total: seen.append(done))
    next(stream)
    assert seen and max(seen) < path.stat().st_size / 4
