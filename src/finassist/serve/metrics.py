"""Prometheus metrics, one registry per app (no module-level state): requests, latency, errors,
tokens, by route and by model. Served at ``/metrics`` (and ``/api/metrics``).

Each server process counts its own requests; with ``--workers N`` a scrape sees one worker.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_\u3400-\u9fff\uf900-\ufaff]")


def count_tokens(text: str) -> int:
    """A model-free token estimate: one per CJK character, word or punctuation mark."""
    return len(_CJK.findall(text)) + len(_WORD.findall(text))


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
