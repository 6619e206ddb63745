"""Training recipes: every shipped recipe loads, typos and bad values are named, paths resolve
against the recipe's folder, and the accelerate / DeepSpeed / FSDP examples are valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from finassist.errors import ConfigError
from finassist.train.config import TrainConfig, load_config
from finassist.train.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "configs" / "train").glob("*.yaml"))
MINIMAL = "name: fin-v1\nmodel_path: /models/Qwen2.5-7B-Instruct\ndata: [../build/sft]\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipes" / "run.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_loads(recipe: Path) -> None:
    config = load_config(recipe)
    assert config.stage in recipe.name
    assert config.template == "auto" or config.template in TEMPLATES
    assert Path(config.model_path).is_absolute()
    assert all(Path(d).is_absolute() for d in config.data)
    assert "#" in recipe.read_text(encoding="utf-8")  # commented for the user


def test_the_recipes_cover_the_models_the_issue_names() -> None:
    names = " ".join(p.name for p in RECIPES)
    for needed in (
        "qwen2.5-7b-instruct-sft-lora",
        "qwen2.5-7b-instruct-sft-qlora",
        "qwen2.5-7b-instruct-pt",
        "chatglm3-6b-pt",
        "baichuan2-7b-chat-pt",
        "llama3-8b-instruct-pt",
        "qwen2.5-0.5b-instruct-sft",
        "qwen2.5-0.5b-instruct-pt",
    ):
        assert needed in names
    assert load_config(ROOT / "configs/train/qwen2.5-7b-instruct-sft-qlora.yaml").quantization


def test_relative_paths_are_relative_to_the_recipe(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "template: my.jinja\noutput_dir: out\n")
    config = load_config(path)
    assert config.data == [str(tmp_path / "build" / "sft")]
    assert config.template == str(tmp_path / "recipes" / "my.jinja")
    assert config.output_dir == str(tmp_path / "recipes" / "out")
    assert config.model_path == "/models/Qwen2.5-7B-Instruct"


def test_an_unknown_key_is_named_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "lora:\n  rank: 8\nleraning_rate: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "未知的配置项 lora.rank" in message
    assert "未知的配置项 leraning_rate" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("quantization: 3bit\n", "quantization 应为"),
        ("stage: dpo\n", "stage 应为"),
        ("max_length: 8\n", "max_length 应不小于 16"),
        ("bf16: maybe\n", "bf16"),
        ("template: vicuna\n", "未知的对话模板「vicuna」"),
        ("epochs: many\n", "epochs 应为数字"),
    ],
)
def test_a_bad_value_is_a_chinese_error_naming_the_key(
    tmp_path: Path, extra: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(_write(tmp_path, MINIMAL + extra))


def test_missing_required_keys_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model_path 缺少必填项"):
        load_config(_write(tmp_path, "name: a\ndata: [x]\n"))
    with pytest.raises(ConfigError, match="版本名「a b」不合法"):
        load_config(_write(tmp_path, MINIMAL.replace("fin-v1", "'a b'")))
    with pytest.raises(ConfigError, match="不存在"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="顶层应为映射"):
        load_config(_write(tmp_path, "- a\n- b\n"))


def test_command_line_overrides_replace_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "max_steps: 100\n")
    config = load_config(path, max_steps=5, name="fin-v2", output_dir=None)
    assert (config.max_steps, config.name, config.output_dir) == (5, "fin-v2", None)
    with pytest.raises(ConfigError, match="未知的配置项 steps"):
        load_config(path, steps=3)


def test_the_resolved_config_round_trips_as_json() -> None:
    config = TrainConfig(
        name="fin-v1", model_path="/m", data=["/d"], lora={"target_modules": ["q_proj"]}
    )
    assert TrainConfig(**json.loads(json.dumps(config.to_json()))) == config


@pytest.mark.parametrize("name", ["deepspeed_zero2.yaml", "deepspeed_zero3.yaml", "fsdp.yaml"])
def test_accelerate_examples_are_valid_accelerate_configs(name: str) -> None:
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file

    path = ROOT / "configs" / "accelerate" / name
    config = load_config_from_file(str(path))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    ds_file = (raw.get("deepspeed_config") or {}).get("deepspeed_config_file")
    if ds_file:
        ds = json.loads((ROOT / ds_file).read_text(encoding="utf-8"))  # relative to the repo root
        stage = ds["zero_optimization"]["stage"]
        assert f"zero{stage}" in name
        assert ds["train_micro_batch_size_per_gpu"] == "auto"  # taken from the recipe
    else:
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    docs = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    assert f"--config_file configs/accelerate/{name}" in docs
