"""Web search behind one small protocol, off by default.

A provider turns a query into :class:`SearchResult` items (title, URL, snippet). The assistant
calls it only when web search is enabled AND neither the database nor the knowledge base had
anything; results are cited with their URL and title. Keys are never stored in settings: the
configuration (``Settings.websearch``) names the environment variable that holds the key, and
:func:`build_provider` looks it up in the mapping it is given (``config.secrets()``).

>>> config = WebSearchSettings(provider="searxng", url="http://127.0.0.1:8888")
>>> config.enabled, config.provider
(True, 'searxng')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from finassist.config import WebSearchSettings
from finassist.errors import ConfigError, FinassistError, add_unique

DEFAULT_TIMEOUT_S = 8.0
DEFAULT_LIMIT = 5


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


ProviderFactory = Callable[..., WebSearch]
PROVIDERS: dict[str, ProviderFactory] = {}


def register_provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register a provider class under a name."""

    def wrap(factory: ProviderFactory) -> ProviderFactory:
        add_unique(PROVIDERS, name, factory, "搜索服务")
        return factory

    return wrap


def build_provider(
    config: WebSearchSettings,
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
        base_url=config.url,
        api_key_env=config.key_env,
        environ=environ,
        timeout_s=config.timeout,
        transport=transport,
    )
