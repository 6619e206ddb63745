"""Backends by kind, models by name.

A backend kind (``openai``, ``hf``, ``offline``, ``scripted``) is a factory registered with
:func:`register_backend`; a *model* is a named entry of ``[finassist.models]`` that says which
kind to build and how. The test fake registers exactly like the real backends.

>>> settings = Settings(models={"local": {"backend": "offline"}})   # doctest: +SKIP
>>> get_backend("local", settings).name                             # doctest: +SKIP
'local'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from finassist.config import ModelConfig, Settings
from finassist.errors import ConfigError, add_unique
from finassist.llm.types import ChatBackend
from finassist.llm.versions import find_version, list_versions

# factory(name, config, settings): settings is None when a backend is built from a bare entry
BackendFactory = Callable[[str, ModelConfig, Settings | None], ChatBackend]
_KINDS: dict[str, BackendFactory] = {}
_BUILTIN_MODULES = (
    "finassist.llm.openai_backend",
    "finassist.llm.hf",
    "finassist.llm.offline",
    "finassist.llm.scripted",
    "finassist.llm.ab",
)
OFFLINE = "offline"


def register_backend(kind: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: make ``factory(name, config, settings)`` build backends of ``kind``."""

    def wrap(factory: BackendFactory) -> BackendFactory:
        add_unique(_KINDS, kind, factory, "模型后端类型")
        return factory

    return wrap


def backend_kinds() -> list[str]:
    """Every registered backend kind."""
    for module in _BUILTIN_MODULES:  # cheap: heavy libraries are imported only when used
        importlib.import_module(module)
    return sorted(_KINDS)


def create_backend(name: str, config: ModelConfig, settings: Settings | None = None) -> ChatBackend:
    """Build the backend a model entry describes; ``settings`` lets a backend resolve other
    models by name (``ab`` does)."""
    kinds = backend_kinds()
    factory = _KINDS.get(config.backend)
    if factory is None:
        raise ConfigError(
            f"模型 {name} 的 backend「{config.backend}」不存在。可用：{', '.join(kinds)}"
        )
    return factory(name, config, settings)


def model_config(name: str, settings: Settings) -> ModelConfig:
    """The entry ``name`` of ``[finassist.models]``, else the trained version ``name``
    (``finassist models list``); ``offline`` always exists."""
    if name in settings.models:
        return settings.models[name]
    if name == OFFLINE:
        return ModelConfig(backend=OFFLINE)
    version = find_version(settings.home, name)
    if version is not None:
        return version.model_config()
    known = ", ".join([*settings.models, *(v.name for v in list_versions(settings.home)), OFFLINE])
    raise ConfigError(
        f"未配置名为 {name} 的模型。可用：{known}。请在 finassist.toml 的 "
        f"[finassist.models.{name}] 中配置（见 docs/models.md）。"
    )


def get_backend(name: str, settings: Settings) -> ChatBackend:
    """The backend of the model named ``name`` in the settings."""
    return create_backend(name, model_config(name, settings), settings)
