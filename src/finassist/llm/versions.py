"""Model versions: every training run (and every merge) is a named version the model layer can load.

A version lives in ``<home>/models/<name>/version.json``; the weights it points at may live
anywhere (absolute paths). ``train/`` writes versions, ``finassist models list|show`` reads them,
and :func:`finassist.llm.registry.model_config` turns a version name into an ``hf`` model entry,
so ``--model NAME`` works for configured models and trained versions alike.

>>> v = ModelVersion(name="fin-v1", kind="sft", base_model="/models/qwen", adapter="/runs/a")
>>> v.model_config().backend                                  # doctest: +SKIP
'hf'
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from finassist.config import ModelConfig
from finassist.errors import InvalidInput, NotFound
from finassist.fileio import write_atomic

VERSION_FILE = "version.json"
KINDS = ("sft", "pt", "merged")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def models_dir(home: Path) -> Path:
    """Where versions are registered under the finassist home."""
    return home / "models"


def check_name(name: str) -> str:
    """A version name is a folder name and a model name: letters, digits, ``.``, ``_``, ``-``."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"版本名「{name}」不合法：只能用字母、数字、点、下划线和连字符（以字母或数字开头，最长 64 个字符）。"
        )
    return name


@dataclass
class ModelVersion:
    """One trained or merged model.

    ``base_model`` is the local base-model directory; ``adapter`` the LoRA adapter directory
    (``sft``/``pt`` runs); ``path`` the full weights (``merged`` versions). ``data`` names the
    training files and ``data_hash`` the sha256 of their bytes (the manifest hash), so two
    versions trained on the same data can be recognised. ``metrics`` are the training metrics
    (final train/eval loss, steps, tokens, runtime); ``exports`` the extra files of a merge
    (e.g. ``{"gguf": "/…/model-f16.gguf"}``).
    """

    name: str
    kind: str
    base_model: str
    adapter: str | None = None
    path: str | None = None
    parent: str | None = None
    created: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))
    config: dict[str, Any] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    data_hash: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)

    def weights(self) -> tuple[str, str | None]:
        """(model directory, adapter directory or None) to load this version."""
        if self.path:
            return self.path, None
        return self.base_model, self.adapter

    def model_config(self, **overrides: Any) -> ModelConfig:
        """An ``hf`` model entry that loads this version."""
        path, adapter = self.weights()
        overrides.setdefault("trust_remote_code", bool(self.config.get("trust_remote_code")))
        return ModelConfig(backend="hf", path=path, adapter=adapter, role="finance", **overrides)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelVersion:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def version_dir(home: Path, name: str) -> Path:
    return models_dir(home) / check_name(name)


def save_version(home: Path, version: ModelVersion) -> Path:
    """Register (or update) ``version``; the file is replaced atomically."""
    if version.kind not in KINDS:
        raise InvalidInput(f"未知的版本类型 {version.kind}，可选：{', '.join(KINDS)}")
    path = version_dir(home, version.name) / VERSION_FILE
    write_atomic(path, json.dumps(version.to_json(), ensure_ascii=False, indent=2) + "\n")
    return path


def find_version(home: Path, name: str) -> ModelVersion | None:
    """The version called ``name``, or None when there is none."""
    if not _NAME.match(name):
        return None
    path = models_dir(home) / name / VERSION_FILE
    if not path.is_file():
        return None
    try:
        return ModelVersion.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidInput(f"版本文件 {path} 已损坏：{exc}") from exc


def load_version(home: Path, name: str) -> ModelVersion:
    """The version called ``name``; a clear error naming the known ones otherwise."""
    version = find_version(home, name)
    if version is None:
        known = ", ".join(v.name for v in list_versions(home)) or "（还没有）"
        raise NotFound(f"没有名为 {name} 的模型版本。已有版本：{known}。")
    return version


def list_versions(home: Path) -> list[ModelVersion]:
    """Every registered version, oldest first."""
    root = models_dir(home)
    if not root.is_dir():
        return []
    found = [find_version(home, p.parent.name) for p in root.glob(f"*/{VERSION_FILE}")]
    return sorted((v for v in found if v is not None), key=lambda v: (v.created, v.name))
