"""Prometheus metrics, one registry per app (no module-level state): requests, latency, errors,
tokens, by route and by model. Served at ``/metrics`` (and ``/api/metrics``).

A/B models (``backend = "ab"``) add, per variant, ``finassist_variant_requests_total``,
``finassist_variant_errors_total`` and ``finassist_variant_seconds_total`` labelled
``ab`` (the A/B model asked) and ``model`` (the version that answered); they are read from the
backends' own counters at scrape time (:meth:`Metrics.watch`), streams and the assistant's
turns included.

Each server process counts its own requests; with ``--workers N`` a scrape sees one worker.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_\u3400-\u9fff\uf900-\ufaff]")


def count_tokens(text: str) -> int:
    """A model-free token estimate: one per CJK character, word or punctuation mark."""
    return len(_CJK.findall(text)) + len(_WORD.findall(text))


class VariantCollector:
    """Per-variant counters of the A/B backends among ``backends`` (name -> backend)."""

    def __init__(self) -> None:
        self.backends: dict[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        from finassist.llm.ab import ABBackend

        labels = ["ab", "model"]
        requests = CounterMetricFamily(
            "finassist_variant_requests", "Calls an A/B model sent to each variant", labels=labels
        )
        errors = CounterMetricFamily(
            "finassist_variant_errors", "Calls to a variant that failed", labels=labels
        )
        seconds = CounterMetricFamily(
            "finassist_variant_seconds", "Seconds spent in each variant", labels=labels
        )
        for name, backend in sorted(self.backends.items()):
            if not isinstance(backend, ABBackend):
                continue
            for variant, stats in backend.stats().items():
                requests.add_metric([name, variant], stats["requests"])
                errors.add_metric([name, variant], stats["errors"])
                seconds.add_metric([name, variant], stats["seconds"])
        yield from (requests, errors, seconds)


class Metrics:
    """The app's collectors; :meth:`middleware` records every HTTP request."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "finassist_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "finassist_http_request_seconds",
            "HTTP request latency (to the first byte of a streamed reply)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "finassist_http_errors",
            "HTTP responses with status >= 400",
            ["route", "status"],
            registry=r,
        )
        self.chat_requests = Counter(
            "finassist_chat_requests", "Chat completions", ["model", "stream"], registry=r
        )
        self.chat_latency = Histogram(
            "finassist_chat_seconds",
            "Time to compose a chat answer",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.chat_errors = Counter(
            "finassist_chat_errors", "Chat completions that failed", ["model", "code"], registry=r
        )
        self.tokens = Counter(
            "finassist_tokens",
            "Tokens in and out (estimated offline)",
            ["model", "kind"],
            registry=r,
        )
        self.variants = VariantCollector()
        r.register(self.variants)

    def watch(self, backends: Mapping[str, Any]) -> None:
        """Report the per-variant counters of the A/B models among ``backends`` (name ->
        backend, e.g. the server's model catalog); calling it again adds to the watched set."""
        self.variants.backends.update(backends)

    def record_chat(
        self, model: str, *, stream: bool, seconds: float, prompt: int, completion: int
    ) -> None:
        """One answered chat completion."""
        self.chat_requests.labels(model, str(stream).lower()).inc()
        self.chat_latency.labels(model).observe(seconds)
        self.tokens.labels(model, "prompt").inc(prompt)
        self.tokens.labels(model, "completion").inc(completion)

    def render(self) -> Response:
        """The text exposition format."""
        return Response(generate_latest(self.registry), media_type=self.content_type)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Count and time a request under its route template (bounded label values)."""
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.requests.labels(request.method, path, str(response.status_code)).inc()
        self.latency.labels(request.method, path).observe(time.perf_counter() - start)
        if response.status_code >= 400:
            self.errors.labels(path, str(response.status_code)).inc()
        return response
