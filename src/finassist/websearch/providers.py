"""SearXNG (JSON API), Bing Web Search and Tavily over httpx.

Each provider is a constructor with explicit arguments and one seam, ``transport=``, where
tests plug in; the tests run them against a real HTTP server on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from finassist.errors import ConfigError
from finassist.websearch.base import (
    DEFAULT_LIMIT,
    DEFAULT_TIMEOUT_S,
    SearchResult,
    WebSearchError,
    register_provider,
)

SEARXNG_URL = "http://127.0.0.1:8888"
BING_URL = "https://api.bing.microsoft.com"
BING_KEY_ENV = "BING_SEARCH_KEY"
TAVILY_URL = "https://api.tavily.com"
TAVILY_KEY_ENV = "TAVILY_API_KEY"


class _HttpProvider:
    name = "http"

    def __init__(
        self,
        *,
        base_url: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_args: dict[str, Any] = {
            "timeout": timeout_s,
            "transport": transport,
            "headers": dict(headers or {}),
            "trust_env": False,
        }

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        url = f"{self.base_url}{path}"
        try:
            with httpx.Client(**self._client_args) as client:
                response = client.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            raise WebSearchError(f"网络搜索（{self.name}）超时，请稍后再试。") from exc
        except httpx.HTTPError as exc:
            raise WebSearchError(
                f"无法连接网络搜索服务 {self.name}（{self.base_url}）：{exc}"
            ) from exc
        if response.status_code in (401, 403):
            raise WebSearchError(
                f"网络搜索服务 {self.name} 拒绝访问（{response.status_code}），请检查 API 密钥。"
            )
        if response.status_code >= 400:
            raise WebSearchError(f"网络搜索服务 {self.name} 返回错误 {response.status_code}。")
        try:
            return response.json()
        except ValueError as exc:
            raise WebSearchError(f"网络搜索服务 {self.name} 的响应不是 JSON。") from exc


def _key(environ: Mapping[str, str], env_name: str, provider: str) -> str:
    key = environ.get(env_name, "").strip()
    if not key:
        raise ConfigError(f"网络搜索 {provider} 需要 API 密钥：请设置环境变量 {env_name}。")
    return key


def _results(items: Any, provider: str, fields: tuple[str, str, str, str]) -> list[SearchResult]:
    title_f, url_f, snippet_f, date_f = fields
    if not isinstance(items, list):
        raise WebSearchError(f"网络搜索服务 {provider} 的响应格式不符。")
    out = []
    for item in items:
        if isinstance(item, dict) and item.get(url_f):
            out.append(
                SearchResult(
                    title=str(item.get(title_f) or item[url_f]).strip(),
                    url=str(item[url_f]),
                    snippet=str(item.get(snippet_f) or "").strip(),
                    provider=provider,
                    published=str(item[date_f]) if item.get(date_f) else None,
                )
            )
    return out


@register_provider("searxng")
class SearxngProvider(_HttpProvider):
    """A (self-hosted) SearXNG instance with the JSON output format enabled."""

    name = "searxng"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url=base_url or SEARXNG_URL, timeout_s=timeout_s, transport=transport)

    def search(self, query: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        data = self._request(
            "GET", "/search", params={"q": query, "format": "json", "language": "zh-CN"}
        )
        items = data.get("results") if isinstance(data, dict) else None
        return _results(items, self.name, ("title", "url", "content", "publishedDate"))[:limit]


@register_provider("bing")
class BingProvider(_HttpProvider):
    """Bing Web Search API v7 (key in the environment variable ``api_key_env``)."""

    name = "bing"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = _key(environ or {}, api_key_env or BING_KEY_ENV, self.name)
        super().__init__(
            base_url=base_url or BING_URL,
            timeout_s=timeout_s,
            transport=transport,
            headers={"Ocp-Apim-Subscription-Key": key},
        )

    def search(self, query: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        data = self._request(
            "GET", "/v7.0/search", params={"q": query, "count": limit, "mkt": "zh-CN"}
        )
        pages = data.get("webPages", {}) if isinstance(data, dict) else {}
        items = pages.get("value", []) if isinstance(pages, dict) else None
        return _results(items, self.name, ("name", "url", "snippet", "dateLastCrawled"))[:limit]


@register_provider("tavily")
class TavilyProvider(_HttpProvider):
    """Tavily search API (key in the environment variable ``api_key_env``)."""

    name = "tavily"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = _key(environ or {}, api_key_env or TAVILY_KEY_ENV, self.name)
        super().__init__(
            base_url=base_url or TAVILY_URL,
            timeout_s=timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {key}"},
        )

    def search(self, query: str, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
        data = self._request(
            "POST", "/search", json={"query": query, "max_results": limit, "search_depth": "basic"}
        )
        items = data.get("results") if isinstance(data, dict) else None
        return _results(items, self.name, ("title", "url", "content", "published_date"))[:limit]
