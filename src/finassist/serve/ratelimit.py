"""Per-key rate limit: a token bucket per API key, in memory (per server process).

>>> limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: 0.0)
>>> limiter.acquire("k"), limiter.acquire("k"), limiter.acquire("k") > 0
(0.0, 0.0, True)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests per key on average, up to ``burst`` at once; 0 disables it."""

    def __init__(
        self, per_minute: int, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token: 0.0 if allowed, else the seconds until the next one is available."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """Whole seconds for the ``Retry-After`` header (at least 1)."""
    return str(max(1, math.ceil(seconds)))
