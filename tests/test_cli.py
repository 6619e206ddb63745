"""The ``finassist`` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_helpers import home_with_sample, run_cli

from finassist.store import Database

run = run_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sample_db: Database) -> Path:
    """A FINASSIST_HOME whose database is a copy of the seeded sample."""
    return home_with_sample(tmp_path_factory.mktemp("home"), sample_db)


def test_ask_json_has_the_documented_shape(home: Path) -> None:
    result = run(home, "ask", "远航汽配还有哪些应收发票没付？", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert {"session_id", "text", "intent", "evidence", "recommendation"} <= set(reply)
    assert reply["intent"] == "invoices"
    assert reply["evidence"] and {"id", "kind", "source", "data"} <= set(reply["evidence"][0])
    assert reply["recommendation"] is None


def test_ask_continues_a_session(home: Path) -> None:
    first = json.loads(run(home, "ask", "给恒泰精密推荐一个融资产品", "--json").stdout)
    assert first["recommendation"]["recommended_product"] == "early_payment"
    second = run(home, "ask", "他们的贷后情况", "--session", first["session_id"], "--json")
    reply = json.loads(second.stdout)
    assert reply["session_id"] == first["session_id"]
    assert "恒泰精密" in reply["text"] and reply["intent"] == "post_loan"


def test_ask_prints_evidence_for_people(home: Path) -> None:
    result = run(home, "ask", "华东汽车近3个月的现金流")
    assert result.returncode == 0
    assert "证据" in result.stdout and "[1]" in result.stdout
    assert "会话编号" in result.stdout


def test_chat_repl_answers_and_exits_on_eof(home: Path) -> None:
    result = run(home, "chat", stdin="远航汽配的风险\n/session\n")
    assert result.returncode == 0
    assert "暂无诉讼" in result.stdout and "再见" in result.stdout


def test_empty_message_is_a_clear_error(home: Path) -> None:
    result = run(home, "ask", "  ")
    assert result.returncode == 1
    assert "消息为空" in result.stderr and "Traceback" not in result.stderr


def test_unknown_manager_is_a_clear_error(home: Path) -> None:
    result = run(home, "ask", "你好", "--manager", "M999")
    assert result.returncode == 1 and "未知的客户经理" in result.stderr


def test_fresh_home_needs_init(tmp_path: Path) -> None:
    result = run(tmp_path, "ask", "你好")
    assert result.returncode == 1
    assert "finassist db init" in result.stderr and "Traceback" not in result.stderr


def test_database_down_is_a_clear_error(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "db",
        "check",
        FINASSIST_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    assert result.returncode == 1
    assert "无法连接数据库" in result.stderr and "Traceback" not in result.stderr


def test_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "finassist.toml"
    config.write_text("as_of = [unclosed", encoding="utf-8")
    result = run(tmp_path, "db", "check")
    assert (
        result.returncode == 1 and "配置文件" in result.stderr and "Traceback" not in result.stderr
    )


def test_demo_seeds_a_fresh_home_then_serves(tmp_path: Path) -> None:
    import re
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    environ.update({"FINASSIST_HOME": str(tmp_path), "COLUMNS": "200"})
    demo = subprocess.Popen(
        [sys.executable, "-m", "finassist.cli", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        assert demo.stdout is not None
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, demo.stderr.read() if demo.stderr else "demo exited"
            lines.append(line)
            if "#key=" in line:
                break
        output = "".join(lines)
        assert "示例数据已生成" in output and "供应链金融助手" in output
        url, key = re.search(r"(http://127\.0\.0\.1:\d+/)#key=(\S+)", output).groups()  # type: ignore[union-attr]
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert "供应链金融助手" in httpx.get(url, timeout=5).text
        answer = httpx.post(
            url + "v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "finassist",
                "messages": [{"role": "user", "content": "远航汽配的风险"}],
            },
            timeout=30,
        ).json()
        assert "暂无诉讼" in answer["choices"][0]["message"]["content"]
    finally:
        demo.terminate()
        demo.wait(timeout=30)
    check = run(tmp_path, "db", "check")
    assert check.returncode == 0 and "2026-10-31" in check.stdout
    again = run(tmp_path, "db", "seed")
    assert again.returncode == 1 and "已有数据" in again.stderr


def test_seed_and_kb_ingest_create_the_database_on_a_fresh_home(tmp_path: Path) -> None:
    seeded = run(tmp_path / "a", "db", "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert "2026-10-31" in run(tmp_path / "a", "db", "check").stdout
    note = tmp_path / "制度.md"
    note.write_text("# 保理业务管理办法\n\n第一条 保理融资期限不超过一年。\n", encoding="utf-8")
    ingested = run(tmp_path / "b", "kb", "ingest", str(note))
    assert ingested.returncode == 0, ingested.stderr
    assert "保理" in run(tmp_path / "b", "kb", "search", "保理融资期限").stdout


def test_ask_with_a_model_that_cannot_be_built_answers_offline(
    tmp_path: Path, sample_db: Database
) -> None:
    home = home_with_sample(tmp_path, sample_db)
    (home / "finassist.toml").write_text('[finassist.models.local]\nbackend = "hf"\n', "utf-8")
    result = run(home, "ask", "远航汽配的风险", "--model", "local")
    assert result.returncode == 0, result.stderr
    assert "暂无诉讼" in result.stdout  # the offline engine's answer
    assert "模型 local 无法创建" in result.stderr and "离线引擎" in result.stderr
    assert "内部错误" not in result.stderr + result.stdout
