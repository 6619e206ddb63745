"""A/B routing: one model name that sends a share of conversations to each of several models.

```toml
[finassist.models.fin-ab]
backend = "ab"
variants = { "fin-v1" = 0.9, "fin-v2" = 0.1 }   # model or version names -> traffic share
```

A variant is any model name the registry knows (a configured model, a trained version, another
``ab`` model); each is built on first use. Assignment is sticky: a conversation hashes to one
point in [0, 1) and keeps its variant on every turn. The key is the conversation id set with
:func:`conversation` (the assistant's session), else the first user message, which stays the
same while a client resends the whole conversation (the OpenAI API). The answer's ``model``
names the variant; :meth:`ABBackend.stats` counts requests, errors and time per variant, and
``/metrics`` shows them. A failing variant raises, so the router falls back as usual.

>>> ab = get_backend("fin-ab", settings)                            # doctest: +SKIP
>>> ab.chat([Message.user("华东汽车的现金流")]).model                # doctest: +SKIP
'fin-v1'
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from finassist.config import ModelConfig, Settings
from finassist.errors import ConfigError
from finassist.llm.registry import get_backend, model_config, register_backend
from finassist.llm.types import ChatBackend, ChatResponse, Message, StreamChunk

KIND = "ab"
# The conversation the current call belongs to. A context variable, not a global: its value is
# private to the thread / task inside the ``with conversation(...)`` block that set it.
_CONVERSATION: ContextVar[str | None] = ContextVar("finassist_ab_conversation", default=None)


@contextmanager
def conversation(key: str | None) -> Iterator[None]:
    """Inside the block, A/B models assign variants by ``key`` (e.g. the session id)."""
    token = _CONVERSATION.set(key)
    try:
        yield
    finally:
        _CONVERSATION.reset(token)


def sticky_key(messages: list[Message]) -> str:
    """What a conversation is recognised by: :func:`conversation`'s key, else its first user
    message."""
    key = _CONVERSATION.get()
    if key:
        return key
    return next((m.content for m in messages if m.role == "user"), "")


def check_variants(name: str, variants: dict[str, float]) -> dict[str, float]:
    """The shares normalised to sum 1; :class:`ConfigError` naming the field when they cannot be."""
    field = f"[finassist.models.{name}].variants"
    if not variants:
        raise ConfigError(
            f'A/B 模型 {name} 没有配置 {field}，例如 variants = {{ "fin-v1" = 0.9, "fin-v2" = 0.1 }}。'
        )
    for variant, share in variants.items():
        if not isinstance(share, int | float) or not math.isfinite(share) or share < 0:
            raise ConfigError(f"{field} 中 {variant} 的流量占比 {share!r} 无效：须为非负数。")
    total = float(sum(variants.values()))
    if total <= 0:
        raise ConfigError(f"{field} 的流量占比之和须大于 0。")
    return {variant: share / total for variant, share in variants.items()}


@dataclass
class VariantStats:
    """Calls routed to one variant: how many, how many failed, seconds spent in them."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0


class ABBackend:
    """Routes each conversation to one variant by a stable hash, in the configured shares."""

    def __init__(
        self,
        name: str,
        variants: dict[str, float],
        *,
        resolve: Callable[[str], ChatBackend],
    ) -> None:
        self.name = name
        self.shares = check_variants(name, variants)
        self._resolve = resolve
        self._backends: dict[str, ChatBackend] = {}
        self._stats = {variant: VariantStats() for variant in self.shares}
        self._lock = threading.Lock()

    # -- assignment --------------------------------------------------------------------------------

    def choose(self, key: str) -> str:
        """The variant of the conversation ``key``: the same key always gets the same variant."""
        digest = hashlib.sha256(f"{self.name}\0{key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        edge = 0.0
        chosen = next(iter(self.shares))
        for variant, share in self.shares.items():
            if share <= 0:
                continue
            chosen = variant
            edge += share
            if point < edge:
                break
        return chosen

    def backend(self, variant: str) -> ChatBackend:
        """The variant's backend, built on first use."""
        with self._lock:
            built = self._backends.get(variant)
        if built is None:
            built = self._resolve(variant)
            with self._lock:
                built = self._backends.setdefault(variant, built)
        return built

    def warm_up(self) -> None:
        """Build every variant now (rather than on its first conversation)."""
        for variant in self.shares:
            self.backend(variant)

    # -- protocol ----------------------------------------------------------------------------------

    def chat(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> ChatResponse:
        variant = self.choose(sticky_key(messages))
        start = time.perf_counter()
        failed = True
        try:
            response = self.backend(variant).chat(messages, tools=tools)
            failed = False
        finally:
            self._record(variant, time.perf_counter() - start, failed)
        return replace(response, model=variant)

    def stream(
        self, messages: list[Message], *, tools: list[dict[str, Any]] | None = None
    ) -> Iterator[StreamChunk]:
        variant = self.choose(sticky_key(messages))
        start = time.perf_counter()
        failed = False
        try:
            yield from self.backend(variant).stream(messages, tools=tools)
        except Exception:
            failed = True
            raise
        finally:  # a stream the caller stopped reading still counts as a request
            self._record(variant, time.perf_counter() - start, failed)

    # -- statistics --------------------------------------------------------------------------------

    def _record(self, variant: str, seconds: float, failed: bool) -> None:
        with self._lock:
            stats = self._stats[variant]
            stats.requests += 1
            stats.errors += int(failed)
            stats.seconds += seconds

    def stats(self) -> dict[str, dict[str, float]]:
        """Per variant: ``share``, ``requests``, ``errors``, ``seconds`` (total) and
        ``mean_seconds`` since this backend was built."""
        with self._lock:
            return {
                variant: {
                    "share": self.shares[variant],
                    "requests": s.requests,
                    "errors": s.errors,
                    "seconds": s.seconds,
                    "mean_seconds": s.seconds / s.requests if s.requests else 0.0,
                }
                for variant, s in self._stats.items()
            }


def check_cycles(
    name: str, variants: dict[str, float], settings: Settings, chain: tuple[str, ...] = ()
) -> None:
    """Every variant of the A/B model ``name`` exists and no A/B model contains itself."""
    chain = (*chain, name)
    for variant in variants:
        if variant in chain:
            raise ConfigError(f"A/B 模型形成循环：{' → '.join([*chain, variant])}。")
        try:
            config = model_config(variant, settings)
        except ConfigError as exc:
            raise ConfigError(f"A/B 模型 {name} 的 variants 有误：{exc}") from exc
        if config.backend == KIND:
            check_cycles(variant, config.variants, settings, chain)


@register_backend(KIND)
def from_config(name: str, config: ModelConfig, settings: Settings | None = None) -> ABBackend:
    """Variants are resolved by name through the registry, so the settings are needed."""
    if settings is None:
        raise ConfigError(
            f"A/B 模型 {name} 须通过 get_backend(名称, settings) 创建：各版本按名称解析。"
        )
    check_variants(name, config.variants)
    check_cycles(name, config.variants, settings)
    return ABBackend(name, config.variants, resolve=lambda variant: get_backend(variant, settings))
