"""Web search providers (SearXNG, Bing, Tavily) behind one interface; off by default."""

from finassist.websearch.base import (
    PROVIDERS,
    SearchResult,
    WebSearch,
    WebSearchError,
    build_provider,
    register_provider,
)

__all__ = [
    "PROVIDERS",
    "SearchResult",
    "WebSearch",
    "WebSearchError",
    "build_provider",
    "register_provider",
]
