"""``finassist nlp intent | sentiment | ner`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from finassist.cli.nlp import nlp_app

runner = CliRunner()


def test_intent_json_for_one_text() -> None:
    result = runner.invoke(nlp_app, ["intent", "茅台还能拿吗", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["label"] == "个股问询" and row["intent"] == "stock" and row["group"] == "投资咨询"
    assert 0 < row["score"] <= 1


def test_file_gives_one_line_per_text_gbk_included(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"text": t}, ensure_ascii=False)
        for t in ("券商板块还能上车吗", "您好", "今天天气不错")
    ]
    path.write_bytes("\n".join(lines).encode("gbk"))
    result = runner.invoke(nlp_app, ["intent", "--file", str(path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["券商板块还能上车吗", "您好", "今天天气不错"]
    assert [r["label"] for r in rows] == ["行业板块问询", "问候/闲聊", "未识别"]
    assert all({"text", "label", "score"} <= set(r) for r in rows)


def test_sentiment_with_targets_and_ner_as_json() -> None:
    result = runner.invoke(
        nlp_app,
        [
            "sentiment",
            "贵州茅台业绩超预期股价大涨，而万科A债务违约股价暴跌。",
            "--targets",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["label"] in ("积极", "中性", "消极")
    assert {t["text"]: t["label"] for t in row["targets"]} == {"贵州茅台": "积极", "万科A": "消极"}
    result = runner.invoke(nlp_app, ["ner", "贵州茅台2023年第三季度营收1.2亿元", "--json"])
    entities = json.loads(result.stdout)["entities"]
    first = entities[0]
    assert (first["text"], first["type"], first["start"]) == ("贵州茅台", "stock", 0)


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINASSIST_")}
    env["FINASSIST_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "finassist.cli", "nlp", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_bad_file_line_is_named_and_nothing_is_printed(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "茅台"}\n{oops\n', encoding="utf-8")
    result = run_cli("intent", "--file", str(path), home=tmp_path)
    assert result.returncode == 1
    assert "第 2 行不是合法的 JSON" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_text_and_file_together_or_neither_are_refused(tmp_path: Path) -> None:
    result = run_cli("ner", home=tmp_path)
    assert result.returncode == 1 and "二者选一" in result.stderr


def test_model_option_runs_the_task_through_a_configured_model(monkeypatch) -> None:
    import finassist.llm
    from finassist.llm.scripted import ScriptedBackend

    fake = ScriptedBackend()
    fake.enqueue("个股问询", "消极")
    monkeypatch.setattr(finassist.llm, "get_backend", lambda name, settings: fake)
    result = runner.invoke(nlp_app, ["intent", "宁德时代怎么看", "--model", "local", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["intent"] == "stock"
    result = runner.invoke(nlp_app, ["sentiment", "股价暴跌", "--model", "local", "--json"])
    assert json.loads(result.stdout)["label"] == "消极"
    assert "个股问询" in fake.requests[0].messages[-1].content  # the options are in the prompt
