"""The build recipe: defaults, the example, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from finassist.data.config import BuildConfig, config_from_dict, load_config
from finassist.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "configs" / "data" / "example.yaml"


def test_the_packaged_defaults_are_the_dataclass_defaults() -> None:
    assert load_config(None) == BuildConfig()


def test_the_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.samples.system_prompt.startswith("你是")
    assert config.augment.synonym_ratio == 0.1
    assert config.mix.chat == 0.6


def test_a_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "dedup:\n  semantic:\n    threshold: 0.8\nsession: {mode: day}\n", encoding="utf-8"
    )
    config = load_config(path)
    assert config.dedup.semantic.threshold == 0.8 and config.dedup.semantic.cluster_cap == 20
    assert config.session.mode == "day" and config.session.gap_seconds == 1800


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dedupe": {}}, "未知的配置项：dedupe"),
        ({"dedup": {"semantic": {"treshold": 0.9}}}, "dedup.semantic.treshold"),
        ({"samples": {"max_tokens": "many"}}, "samples.max_tokens 应为整数"),
        ({"session": {"mode": "week"}}, "session.mode"),
        ({"mix": {"chat": 0}}, "chat 须大于 0"),
        ({"formats": "csv"}, None),
    ],
)
def test_mistakes_name_the_key(data: dict, message: str | None) -> None:  # type: ignore[type-arg]
    if message is None:
        assert config_from_dict(data).formats == ("csv",)  # checked when the build starts
        return
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="无法解析"):
        load_config(path)
    with pytest.raises(ConfigError, match="不存在"):
        load_config(tmp_path / "none.yaml")
