"""One Settings object, read at the edges (cli.py, serve/) and passed down.

Sources, strongest first: keyword arguments, environment variables ``FINASSIST_*``, then a TOML
file (``$FINASSIST_CONFIG``, else ``./finassist.toml``, else ``$FINASSIST_HOME/finassist.toml``).

>>> Settings(home="/tmp/fa").database_url_resolved()
'sqlite:////tmp/fa/finassist.db'
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from finassist.errors import ConfigError

DEFAULT_HOME = "~/.finassist"
CONFIG_FILE_NAME = "finassist.toml"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file found by :func:`find_config_file`; a broken file is a clear error."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None:
            try:
                self._data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"配置文件 {path} 无法解析：{exc}") from exc
            self._data = self._data.get("finassist", self._data)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


def find_config_file() -> Path | None:
    """The TOML file to read, or None. ``FINASSIST_CONFIG`` must exist if it is set."""
    explicit = os.environ.get("FINASSIST_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"FINASSIST_CONFIG 指向的配置文件不存在：{path}")
        return path
    home = Path(os.environ.get("FINASSIST_HOME", DEFAULT_HOME)).expanduser()
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, home / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


class ModelConfig(BaseModel):
    """One named model in ``[finassist.models.NAME]`` (see docs/models.md).

    ``backend``: openai | hf | offline | scripted | ab. ``api_key_env`` names the environment
    variable holding the key (the key itself is never written in the file). ``role``: finance
    (a fine-tuned model for finance turns) | general | any. ``path``/``adapter``: local
    directories for ``hf``. ``variants`` (``ab``): model or version names -> traffic share,
    e.g. ``{"fin-v1" = 0.9, "fin-v2" = 0.1}``. Timeouts are seconds.
    """

    backend: str = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    model: str = ""
    role: str = "any"
    path: str | None = None
    adapter: str | None = None
    timeout: float = 60.0
    connect_timeout: float = 5.0
    max_retries: int = 2
    temperature: float = 0.2
    max_tokens: int = 1024
    tools: bool = True
    variants: dict[str, float] = {}
    trust_remote_code: bool = False  # hf: run the model folder's own code (ChatGLM3, Baichuan2)


class Settings(BaseSettings):
    """Everything finassist can be configured with.

    ``home`` holds the SQLite database and everything the program writes.
    ``database_url`` points at PostgreSQL or MySQL instead, e.g.
    ``postgresql+psycopg://user@127.0.0.1/finassist`` or ``mysql+pymysql://root@127.0.0.1/finassist``.
    ``as_of`` fixes "today" for analytics; by default the date the data was generated for.
    ``manager`` is the relationship manager the CLI acts as by default.
    """

    model_config = SettingsConfigDict(env_prefix="FINASSIST_", extra="ignore")

    home: Path = Path(DEFAULT_HOME)
    database_url: str | None = None
    as_of: date | None = None
    manager: str | None = None
    echo_sql: bool = False
    models: dict[str, ModelConfig] = {}
    model: str | None = None  # the named model to use; None: route by role, else offline
    model_fallbacks: list[str] = []
    llm_cache_ttl: int = 86400  # seconds a model response is reused; 0 turns the cache off

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls, find_config_file()))

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings; invalid values become a :class:`ConfigError` with the field named."""
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"配置有误：{problems}") from exc

    def database_url_resolved(self) -> str:
        """The database URL to connect to: ``database_url`` or SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'finassist.db'}"
