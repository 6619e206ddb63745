"""``finassist models list | show`` as a user runs them: versions with their data hash, metrics,
exports and evaluation runs, configured models beside them, and a clear error for a typo."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from tests.cli_helpers import run_cli

from finassist.evaluate import TaskResult, save_run
from finassist.llm.versions import ModelVersion, save_version

DATA_HASH = "5e1f0c2d" * 8


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    sft = ModelVersion(
        name="fin-v1",
        kind="sft",
        base_model="/models/Qwen2.5-7B-Instruct",
        adapter="/runs/fin-v1/adapter",
        created="2026-03-01T10:00:00",
        config={"lora": {"r": 16, "alpha": 32}, "epochs": 3},
        data=["/data/exports/sft-train.jsonl"],
        data_hash=DATA_HASH,
        metrics={"train_loss": 0.8123, "eval_loss": 0.9456, "steps": 300},
    )
    merged = ModelVersion(
        name="fin-v1-merged",
        kind="merged",
        base_model=sft.base_model,
        path="/models/fin-v1-merged/merged",
        parent="fin-v1",
        created="2026-03-01T11:00:00",
        data=sft.data,
        data_hash=DATA_HASH,
        metrics=sft.metrics,
        exports={"safetensors": "/models/fin-v1-merged/merged", "gguf": "/models/m-q8_0.gguf"},
    )
    save_version(home, sft)
    save_version(home, merged)
    older = [TaskResult("fin_mc", "multiple_choice", 20, {"accuracy": 0.55}, "accuracy")]
    newer = [
        TaskResult("fin_mc", "multiple_choice", 20, {"accuracy": 0.7}, "accuracy"),
        TaskResult("ner", "ner", 10, {"f1": 0.625, "precision": 0.7}, "f1"),
    ]
    save_run(home, "fin-v1-merged", older, now=datetime(2026, 3, 2, 9, 0))
    save_run(home, "fin-v1-merged", newer, now=datetime(2026, 3, 3, 9, 0))
    (home / "finassist.toml").write_text(
        '[finassist.models.deepseek]\nbackend = "openai"\nmodel = "deepseek-chat"\n'
        'api_key_env = "DEEPSEEK_API_KEY"\n',
        encoding="utf-8",
    )
    return home


def test_list_shows_versions_and_configured_models(home: Path) -> None:
    result = run_cli(home, "models", "list")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("fin-v1-merged", "merged", "Qwen2.5-7B-Instruct", DATA_HASH[:12], "配置"):
        assert expected in out
    assert "train_loss=0.8123" in out and "fin_mc=0.700" in out and "ner=0.625" in out

    rows = {r["name"]: r for r in json.loads(run_cli(home, "models", "list", "--json").stdout)}
    assert set(rows) == {"fin-v1", "fin-v1-merged", "deepseek"}
    assert rows["fin-v1-merged"]["parent"] == "fin-v1"
    assert rows["fin-v1-merged"]["latest_eval"]["tasks"]["ner"]["metrics"]["f1"] == 0.625
    assert rows["fin-v1"]["latest_eval"] is None
    assert rows["deepseek"]["source"] == "config" and rows["deepseek"]["backend"] == "openai"


def test_show_gives_everything_about_a_version(home: Path) -> None:
    result = run_cli(home, "models", "show", "fin-v1-merged")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "父版本：fin-v1",
        f"数据哈希：{DATA_HASH}",
        "/data/exports/sft-train.jsonl",
        "eval_loss",
        "/models/m-q8_0.gguf",
        "20260303-090000-fin-v1-merged",
        "20260302-090000-fin-v1-merged",
    ):
        assert expected in out, expected

    data = json.loads(run_cli(home, "models", "show", "fin-v1", "--json").stdout)
    assert data["config"] == {"lora": {"r": 16, "alpha": 32}, "epochs": 3}
    assert data["children"] == ["fin-v1-merged"] and data["evaluations"] == []
    merged = json.loads(run_cli(home, "models", "show", "fin-v1-merged", "--json").stdout)
    assert [r["created"] for r in merged["evaluations"]] == [
        "2026-03-03T09:00:00",
        "2026-03-02T09:00:00",
    ]


def test_unknown_name_is_a_chinese_error_without_traceback(home: Path) -> None:
    result = run_cli(home, "models", "show", "fin-v2")
    assert result.returncode == 1
    assert "没有名为 fin-v2 的模型版本或已配置模型" in result.stderr
    assert "fin-v1-merged" in result.stderr and "Traceback" not in result.stderr
