"""``finassist eval`` as a user runs it: a real process on a copy of the sample database."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tests.cli_helpers import home_with_sample, run_cli

from finassist.store import Database

from .conftest import EVAL_DATA


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(home, "eval", *args)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sample_db: Database) -> Path:
    return home_with_sample(tmp_path_factory.mktemp("evalhome"), sample_db)


def test_run_compare_list(home: Path, tmp_path: Path) -> None:
    files = [str(EVAL_DATA / n) for n in ("intent.jsonl", "ner.jsonl", "generation.jsonl")]
    first = run(home, "run", *files, "--model", "offline", "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert "intent_demo" in first.stdout
    second = run(home, "run", files[0], "--model", "offline")
    assert second.returncode == 0, second.stderr
    ids = [re.search(r"评测编号：(\S+)", r.stdout).group(1) for r in (first, second)]  # type: ignore[union-attr]

    report = tmp_path / "cmp.html"
    compared = run(home, "compare", *ids, "--html", str(report))
    assert compared.returncode == 0, compared.stderr
    assert "总体" in compared.stdout and "intent_demo" in compared.stdout
    assert "<svg" in report.read_text("utf-8")

    listed = run(home, "list")
    assert ids[0] in listed.stdout and ids[1] in listed.stdout


def test_bad_input_is_a_chinese_message(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes('{"text": "坏", "label": "消极"}\n'.encode("gbk"))
    result = run(home, "run", str(bad))
    assert result.returncode == 1
    assert "第 1 行不是 UTF-8 编码" in result.stderr and "Traceback" not in result.stderr
    unknown = run(home, "run", str(EVAL_DATA / "intent.jsonl"), "--model", "nope")
    assert unknown.returncode == 1 and "未配置名为 nope 的模型" in unknown.stderr
    missing = run(home, "compare", "x", "y")
    assert missing.returncode == 1 and "找不到评测记录" in missing.stderr
