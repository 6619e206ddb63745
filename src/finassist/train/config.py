"""The training recipe: a small YAML file mapped onto :class:`TrainConfig`.

``load_config(path, **overrides)`` reads the YAML, resolves relative paths against the file's
folder (as ``finassist data build`` recipes do), applies command-line overrides and validates.
An unknown key or a value of the wrong type is a :class:`ConfigError` naming the key and the
file, so a typo never silently falls back to a default. Paths are only checked for existence
when a run starts: a recipe with placeholder model paths still loads.

>>> config = TrainConfig(name="fin-v1", model_path="/models/Qwen2.5-7B-Instruct", data=["build/sft"])
>>> config.lora.r, config.stage
(16, 'sft')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finassist.errors import ConfigError, FinassistError
from finassist.fileio import read_yaml_mapping
from finassist.llm.versions import check_name
from finassist.train.templates import TEMPLATES

STAGES = ("sft", "pt")
_PATH_FIELDS = ("model_path", "output_dir")
_PATH_LIST_FIELDS = ("data", "eval_data")


class LoraSettings(BaseModel):
    """LoRA adapter shape: rank, scaling, dropout and which linear layers get an adapter."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class TrainConfig(BaseModel):
    """One training run (LLaMA-Factory-like, small). See docs/training.md for every field.

    ``data``: files (``.jsonl``/``.json`` conversations for SFT; ``.txt``/``.md``/``.jsonl``/
    ``.html``/``.pdf``/``.docx`` for PT) or folders (a ``finassist data build`` export for SFT,
    any folder of documents for PT). ``eval_data``: None picks the export's ``val`` split,
    ``[]`` turns evaluation off. ``max_steps`` > 0 overrides ``epochs``. ``output_dir`` defaults
    to ``<home>/models/<name>``.
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str
    stage: Literal["sft", "pt"] = "sft"
    model_path: str
    template: str = "auto"
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    data: list[str] = Field(min_length=1)
    eval_data: list[str] | None = None
    text_field: str = "text"
    max_length: int = Field(2048, ge=16)
    packing: bool = False
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quantization: Literal["4bit", "8bit"] | None = None
    gradient_checkpointing: bool = True
    bf16: bool | Literal["auto"] = "auto"
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int = -1
    batch_size: int = Field(2, ge=1)
    grad_accum: int = Field(8, ge=1)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    eval_steps: int = Field(100, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int | None = Field(3, ge=1)
    logging_steps: int = Field(10, ge=1)
    seed: int = 42
    output_dir: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name(value)
        except FinassistError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        if value == "auto" or value in TEMPLATES or value.endswith((".jinja", ".j2")):
            return value
        raise ValueError(
            f"未知的对话模板「{value}」，可选：auto（模型自带）、{'、'.join(TEMPLATES)}，或 .jinja 文件路径"
        )

    def to_json(self) -> dict[str, Any]:
        """The resolved recipe as plain JSON (stored with the model version)."""
        return self.model_dump(mode="json")


_MESSAGES = {
    "missing": "缺少必填项",
    "extra_forbidden": "未知的配置项",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "string_type": "应为字符串",
    "list_type": "应为列表",
    "model_type": "应为映射（键: 值）",
    "too_short": "不能为空",
}


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int)) or "顶层"
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"未知的配置项 {where}"
    if kind == "literal_error":
        return f"{where} 应为 {ctx.get('expected')} 之一"
    bounds = {
        "greater_than_equal": ("不小于", "ge"),
        "greater_than": ("大于", "gt"),
        "less_than": ("小于", "lt"),
        "less_than_equal": ("不大于", "le"),
    }
    if kind in bounds:
        word, key = bounds[kind]
        return f"{where} 应{word} {ctx.get(key)}（实际为 {error.get('input')!r}）"
    if kind == "value_error":
        return f"{where}：{ctx.get('error', error['msg'])}"
    return f"{where} {_MESSAGES.get(kind, error['msg'])}"


def config_from_dict(data: dict[str, Any], *, source: str = "配置") -> TrainConfig:
    """A validated :class:`TrainConfig`; problems become one :class:`ConfigError`."""
    try:
        return TrainConfig(**data)
    except ValidationError as exc:
        # A bad value inside a union (bf16: yes) yields one error per branch: show each place once.
        problems = list(dict.fromkeys(_describe(e) for e in exc.errors()))
        raise ConfigError(f"训练配置 {source} 有误：" + "；".join(problems)) from exc


def _resolve(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def load_config(path: Path, **overrides: Any) -> TrainConfig:
    """The recipe in ``path``; ``overrides`` (``None`` values ignored) replace top-level keys.

    Relative paths written in the file are relative to the file's folder; override values are
    taken as given (the CLI resolves them against the working directory).
    """
    data = read_yaml_mapping(path, "训练配置文件")
    base = path.resolve().parent
    for key in _PATH_FIELDS:
        if isinstance(data.get(key), str) and data[key]:
            data[key] = _resolve(data[key], base)
    for key in _PATH_LIST_FIELDS:
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
        if isinstance(data.get(key), list):
            data[key] = [_resolve(v, base) if isinstance(v, str) else v for v in data[key]]
    template = data.get("template")
    if isinstance(template, str) and template.endswith((".jinja", ".j2")):
        data["template"] = _resolve(template, base)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(data, source=str(path))
