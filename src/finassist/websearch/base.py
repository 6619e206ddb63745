"""Web search behind one small protocol, off by default.

A provider turns a query into :class:`SearchResult` items (title, URL, snippet). The assistant
calls it only when web search is enabled AND neither the database nor the knowledge base had
anything; results are cited with their URL and title. Keys are never stored in settings: the
configuration names the environment variable that holds the key.

>>> config = WebSearchConfig.from_env({"FINASSIST_WEBSEARCH": "searxng",
...                                    "FINASSIST_WEBSEARCH_URL": "http://127.0.0.1:8888"})
>>> config.enabled, config.provider
(True, 'searxng')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from finassist.errors import ConfigError, FinassistError, add_unique

DEFAULT_TIMEOUT_S = 8.0
DEFAULT_LIMIT = 5
OFF = ("", "0", "off", "none", "false", "no")


class WebSearchError(FinassistError):
    """The web search provider failed or answered something unusable."""


@dataclass(frozen=True)
class SearchResult:
    """One web result: what a user needs to check the source."""

    title: str
    url: str
    snippet: str
    provider: str
    published: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "provider": self.provider,
            "published": self.published,
        }


class WebSearch(Protocol):
    """A web search provider."""

    name: str

    def search(self, query: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]: ...


@dataclass(frozen=True)
class WebSearchConfig:
    """Which provider, where, and the *name* of the environment variable with its key."""

    provider: str = ""
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def enabled(self) -> bool:
        return self.provider.lower() not in OFF

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WebSearchConfig:
        """``FINASSIST_WEBSEARCH`` (searxng | bing | tavily; unset = off), ``_URL``, ``_KEY_ENV``,
        ``_TIMEOUT``. Read at the edge (CLI, server) and passed down."""
        raw_timeout = environ.get("FINASSIST_WEBSEARCH_TIMEOUT") or str(DEFAULT_TIMEOUT_S)
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise ConfigError(
                f"FINASSIST_WEBSEARCH_TIMEOUT 应为秒数，当前为 {raw_timeout}。"
            ) from exc
        return cls(
            provider=(environ.get("FINASSIST_WEBSEARCH") or "").strip().lower(),
            base_url=environ.get("FINASSIST_WEBSEARCH_URL") or None,
            api_key_env=environ.get("FINASSIST_WEBSEARCH_KEY_ENV") or None,
            timeout_s=timeout,
        )


ProviderFactory = Callable[..., WebSearch]
PROVIDERS: dict[str, ProviderFactory] = {}


def register_provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register a provider class under a name."""

    def wrap(factory: ProviderFactory) -> ProviderFactory:
        add_unique(PROVIDERS, name, factory, "搜索服务")
        return factory

    return wrap


def build_provider(
    config: WebSearchConfig,
    environ: Mapping[str, str],
    *,
    transport: httpx.BaseTransport | None = None,
) -> WebSearch | None:
    """The configured provider, or None when web search is off."""
    if not config.enabled:
        return None
    import finassist.websearch.providers  # noqa: F401  (registers the built-in providers)

    factory = PROVIDERS.get(config.provider)
    if factory is None:
        raise ConfigError(
            f"未知的网络搜索服务 {config.provider}，可选：{'、'.join(sorted(PROVIDERS))}。"
        )
    return factory(
        base_url=config.base_url,
        api_key_env=config.api_key_env,
        environ=environ,
        timeout_s=config.timeout_s,
        transport=transport,
    )
