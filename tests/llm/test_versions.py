"""Model versions: registered under the home, listed in order, loaded by name like configured
models (configured names win), with clear errors for bad names, typos and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from finassist.config import Settings
from finassist.errors import ConfigError, InvalidInput, NotFound
from finassist.llm.registry import get_backend, model_config
from finassist.llm.versions import (
    ModelVersion,
    find_version,
    list_versions,
    load_version,
    save_version,
)


def sft(name: str = "fin-v1", created: str = "2026-03-01T10:00:00") -> ModelVersion:
    return ModelVersion(
        name=name,
        kind="sft",
        base_model="/models/qwen",
        adapter=f"/runs/{name}/adapter",
        created=created,
        data=["/data/train.jsonl"],
        data_hash="ab" * 32,
        metrics={"train_loss": 0.5},
    )


def test_a_saved_version_reads_back_and_lists_oldest_first(tmp_path: Path) -> None:
    save_version(tmp_path, sft("fin-v2", "2026-03-02T10:00:00"))
    save_version(tmp_path, sft("fin-v1"))
    assert load_version(tmp_path, "fin-v1") == sft("fin-v1")
    assert [v.name for v in list_versions(tmp_path)] == ["fin-v1", "fin-v2"]
    assert (tmp_path / "models" / "fin-v1" / "version.json").is_file()
    assert find_version(tmp_path, "nope") is None and find_version(tmp_path, "../x") is None


def test_a_version_name_loads_through_the_registry(tmp_path: Path) -> None:
    save_version(tmp_path, sft())
    settings = Settings(home=tmp_path)
    config = model_config("fin-v1", settings)
    assert (config.backend, config.path, config.adapter) == (
        "hf",
        "/models/qwen",
        "/runs/fin-v1/adapter",
    )
    backend = get_backend("fin-v1", settings)  # built, not loaded: no torch needed here
    assert backend.name == "fin-v1" and str(backend.adapter) == "/runs/fin-v1/adapter"
    merged = ModelVersion(
        "fin-v1-merged", "merged", "/models/qwen", path="/models/m", parent="fin-v1"
    )
    save_version(tmp_path, merged)
    assert (model_config("fin-v1-merged", settings).path, merged.weights()) == (
        "/models/m",
        ("/models/m", None),
    )


def test_a_version_trained_with_remote_code_is_served_with_it(tmp_path: Path) -> None:
    """ChatGLM3 / Baichuan2 need their folder's own code at serving time as at training time."""
    glm = sft("glm-v1")
    glm.config = {"trust_remote_code": True, "template": "chatglm3"}
    save_version(tmp_path, glm)
    save_version(tmp_path, sft())
    settings = Settings(home=tmp_path)
    assert get_backend("glm-v1", settings).trust_remote_code is True
    assert get_backend("fin-v1", settings).trust_remote_code is False


def test_a_configured_model_wins_over_a_version_of_the_same_name(tmp_path: Path) -> None:
    save_version(tmp_path, sft())
    settings = Settings(home=tmp_path, models={"fin-v1": {"backend": "scripted"}})
    assert model_config("fin-v1", settings).backend == "scripted"


def test_errors_name_the_known_versions(tmp_path: Path) -> None:
    save_version(tmp_path, sft())
    with pytest.raises(NotFound, match="没有名为 fin-v9 的模型版本。已有版本：fin-v1"):
        load_version(tmp_path, "fin-v9")
    with pytest.raises(ConfigError, match="未配置名为 fin-v9 的模型。可用：fin-v1, offline"):
        model_config("fin-v9", Settings(home=tmp_path))
    with pytest.raises(InvalidInput, match=r"版本名「\.\./up」不合法"):
        save_version(tmp_path, sft("../up"))
    with pytest.raises(InvalidInput, match="未知的版本类型 lora"):
        save_version(tmp_path, ModelVersion("x", "lora", "/models/qwen"))
    (tmp_path / "models" / "fin-v1" / "version.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"版本文件 .* 已损坏"):
        load_version(tmp_path, "fin-v1")
