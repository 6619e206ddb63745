"""Which backend answers a turn, and what happens when it cannot.

Finance turns go to the fine-tuned model (``role = "finance"``) and general turns to the
general model (``role = "general"``) when both are configured; the domain comes from the
assistant's intent, not from a keyword list. When a backend fails or times out the next one is
tried, and finally the offline engine; :meth:`Routed.meta` says which answered and why others
did not, so the reply can tell the user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from finassist.config import Settings
from finassist.llm.cache import ResponseCache, cache_key
from finassist.llm.registry import OFFLINE, create_backend, model_config
from finassist.llm.types import (
    ChatBackend,
    ChatResponse,
    Message,
    ModelError,
    StreamChunk,
    collect,
)
from finassist.store import Database

FINANCE = "finance"
GENERAL = "general"
UNAVAILABLE = "模型 {name} 无法创建（{error}），本轮改用下一个模型，最后由离线引擎作答。"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnavailableBackend:
    """A configured model that failed to build: every call raises the reason, so the router
    moves on to the next model and finally the offline engine (as ``docs/models.md`` says)."""

    name: str
    reason: str

    def chat(self, messages: list[Message], *, tools: Any = None) -> ChatResponse:
        """Always :class:`ModelError` with the construction failure."""
        raise ModelError(self.reason)

    def stream(self, messages: list[Message], *, tools: Any = None) -> Iterator[StreamChunk]:
        """Fails on the first chunk, before any text flowed."""
        raise ModelError(self.reason)
        yield  # a generator: the router calls next() inside its try


def backend_or_unavailable(name: str, settings: Settings) -> ChatBackend:
    """The backend of model ``name``; an :class:`UnavailableBackend` (and a warning on stderr)
    when building it fails. An unknown name is still a :class:`ConfigError`."""
    config = model_config(name, settings)
    try:
        return create_backend(name, config, settings)
    except Exception as exc:  # a broken SDK, a missing path or extra: the turn must still answer
        reason = UNAVAILABLE.format(name=name, error=f"{type(exc).__name__}：{_describe(exc)}")
        logger.warning(reason)
        return UnavailableBackend(name, reason)


@dataclass(frozen=True)
class Attempt:
    """A backend that was tried and failed."""

    backend: str
    error: str


@dataclass
class Routed:
    """A response and how it was obtained."""

    response: ChatResponse
    backend: str
    cached: bool = False
    failures: list[Attempt] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        """For the reply: ``{"backend", "model", "cached", "fallback": [{"backend", "error"}]}``."""
        return {
            "backend": self.backend,
            "model": self.response.model,
            "cached": self.cached,
            "fallback": [{"backend": a.backend, "error": a.error} for a in self.failures],
        }


class Router:
    """An ordered list of backends per domain, a response cache, and the offline last resort."""

    def __init__(
        self,
        default: list[ChatBackend],
        *,
        routes: dict[str, list[ChatBackend]] | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        if not default and not routes:
            raise ValueError("a router needs at least one backend")
        self.default = default
        self.routes = routes or {}
        self.cache = cache

    @classmethod
    def single(cls, backend: ChatBackend, cache: ResponseCache | None = None) -> Router:
        return cls([backend], cache=cache)

    def order(self, domain: str) -> list[ChatBackend]:
        """The backends to try for a turn of ``domain``, best first."""
        return self.routes.get(domain) or self.default

    def chat(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        domain: str = GENERAL,
        evidence: Any = None,
        offline: ChatBackend | None = None,
    ) -> Routed:
        """Ask the backends in order; the first answer wins. ``offline`` is the last resort."""
        failures: list[Attempt] = []
        for backend in self.order(domain):
            key = cache_key(backend.name, messages, tools, evidence)
            if self.cache is not None:
                hit = self.cache.get(key)
                if hit is not None:
                    return Routed(hit, backend.name, True, failures)
            try:
                response = backend.chat(messages, tools=tools)
            except Exception as exc:  # any failure: the turn must still get an answer
                failures.append(Attempt(backend.name, _describe(exc)))
                continue
            if self.cache is not None:
                self.cache.put(key, backend.name, response)
            return Routed(response, backend.name, False, failures)
        if offline is None:
            reasons = "；".join(f"{a.backend}：{a.error}" for a in failures)
            raise ModelError(f"所有模型都不可用。{reasons}")
        return Routed(offline.chat(messages), offline.name, False, failures)

    def stream(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        domain: str = GENERAL,
        evidence: Any = None,
        offline: ChatBackend | None = None,
        on_start: Callable[[Routed], None] | None = None,
    ) -> Iterator[StreamChunk]:
        """Stream from the first backend that starts answering (no fallback once text flowed).

        ``on_start`` hears which backend answers (a :class:`Routed` whose response is still
        empty) before its first chunk is yielded. A cached answer comes as one chunk; a stream
        that finished is cached (with ``evidence`` in the key, as :meth:`chat` does). ``offline``
        is the last resort, as for :meth:`chat`.
        """
        failures: list[Attempt] = []
        for backend in self.order(domain):
            key = cache_key(backend.name, messages, tools, evidence)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                _started(on_start, Routed(hit, backend.name, True, failures))
                yield StreamChunk(hit.content, hit.tool_calls, hit.finish_reason, hit.model)
                return
            chunks = backend.stream(messages, tools=tools)
            try:
                first = next(chunks)
            except StopIteration:
                _started(on_start, Routed(ChatResponse(""), backend.name, False, failures))
                return
            except Exception as exc:  # any failure before text flowed: try the next one
                failures.append(Attempt(backend.name, _describe(exc)))
                continue
            _started(on_start, Routed(ChatResponse(""), backend.name, False, failures))
            seen = [first]
            yield first
            for chunk in chunks:
                seen.append(chunk)
                yield chunk
            if self.cache is not None:
                self.cache.put(key, backend.name, collect(seen))
            return
        if offline is None:
            reasons = "；".join(f"{a.backend}：{a.error}" for a in failures)
            raise ModelError(f"所有模型都不可用。{reasons}")
        _started(on_start, Routed(ChatResponse(""), offline.name, False, failures))
        yield from offline.stream(messages)


def _started(on_start: Callable[[Routed], None] | None, routed: Routed) -> None:
    if on_start is not None:
        on_start(routed)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def build_router(
    settings: Settings, name: str | None = None, db: Database | None = None
) -> Router | None:
    """The router the settings describe, or None for the offline engine.

    ``name`` (``--model``) or ``settings.model`` picks one model, followed by
    ``settings.model_fallbacks``. Without either, models are routed by their ``role``.
    """
    name = name or settings.model
    cache = ResponseCache(db, settings.llm_cache_ttl) if db is not None else None
    if name == OFFLINE:
        return None
    if name:
        names = [name, *(n for n in settings.model_fallbacks if n not in (name, OFFLINE))]
        return Router([backend_or_unavailable(n, settings) for n in names], cache=cache)
    if not settings.models:
        return None
    built = {n: backend_or_unavailable(n, settings) for n in settings.models}
    roles = {n: c.role for n, c in settings.models.items()}

    def ranked(*prefer: str) -> list[ChatBackend]:
        return [built[n] for role in prefer for n in built if roles[n] == role]

    finance = ranked(FINANCE, "any", GENERAL)
    general = ranked(GENERAL, "any", FINANCE)
    others = [built[n] for n in built if roles[n] not in (FINANCE, GENERAL, "any")]
    return Router(
        finance + others, routes={FINANCE: finance + others, GENERAL: general + others}, cache=cache
    )
