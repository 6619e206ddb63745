"""``finassist data ...`` as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli_helpers import run_cli

from finassist.store import Database


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, "data", *args, timeout=300)


def test_sample_chatlog_build_and_clusters(
    tmp_path: Path, knowledge_dir: Path, sample_db: Database
) -> None:
    chat = tmp_path / "chat.csv"
    result = run(
        tmp_path, "sample-chatlog", "--out", str(chat), "--messages", "1500", "--encoding", "gbk"
    )
    assert result.returncode == 0, result.stderr
    assert "1,500 条消息" in result.stdout and chat.is_file()

    out = tmp_path / "sft"
    db_url = sample_db.url
    result = run(
        tmp_path,
        "build",
        "--input",
        str(chat),
        "--out",
        str(out),
        "--knowledge",
        str(knowledge_dir),
        "--database",
        db_url,
    )
    assert result.returncode == 0, result.stderr
    assert "构建结果" in result.stdout and "已写出" in result.stdout
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["input"]["encodings"][str(chat)] == "gb18030"
    assert report["mix"]["actual"]["structured"] > 0

    result = run(tmp_path, "clusters", str(out), "--top", "3")
    assert result.returncode == 0, result.stderr
    assert "语义簇" in result.stdout
    result = run(tmp_path, "clusters", str(out), "--cluster", "0")
    assert result.returncode == 0 and "例句" in result.stdout


def test_mistakes_are_chinese_messages_not_tracebacks(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "build",
        "--input",
        str(tmp_path / "none.csv"),
        "--out",
        str(tmp_path / "o"),
        "--no-database",
    )
    assert result.returncode == 1
    assert "输入文件不存在" in result.stderr and "Traceback" not in result.stderr
    result = run(tmp_path, "build", "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "--input" in result.stderr
    result = run(tmp_path, "clusters", str(tmp_path))
    assert result.returncode == 1 and "clusters.jsonl" in result.stderr


def test_without_a_database_the_build_goes_on_and_says_so(tmp_path: Path) -> None:
    from finassist.data.chatlog import write_sample_chatlog

    chat = tmp_path / "chat.csv"
    write_sample_chatlog(chat, messages=300, seed=5)
    result = run(tmp_path, "build", "--input", str(chat), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    assert "不生成结构化样本" in result.stderr
    assert (tmp_path / "o" / "dataset_info.json").is_file()
