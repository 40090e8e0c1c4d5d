"""A small in-process sliding-window rate limiter for public forms.

Keyed by a hash of the client address (addresses are not kept). Per process: with
several workers a client gets that many times the budget, which is fine for a form.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fedi_forum.errors import RateLimited

MAX_KEYS = 50_000


class RateLimiter:
    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: OrderedDict[bytes, deque[float]] = OrderedDict()

    def hit(self, client: str) -> None:
        """Count one use; raise RateLimited (429 with Retry-After) past the budget."""
        key = hashlib.sha256(client.encode()).digest()[:16]
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        self._hits.move_to_end(key)
        while hits and now - hits[0] > self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            raise RateLimited("form rate limit", retry_after=int(self.window - (now - hits[0])) + 1)
        hits.append(now)
        while len(self._hits) > MAX_KEYS:
            self._hits.popitem(last=False)


class TokenBuckets:
    """Per-key token buckets: ``rate`` requests per second sustained, ``burst`` at once.

    For the inboxes: by client address before any signature work, and by the signer's
    server after it (a spoofed actor cannot spend another server's budget). Memory is
    bounded; a rate of 0 disables the limit.
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def penalise(self, key: str, cost: float) -> None:
        """Spend ``cost`` tokens of ``key`` without refusing anything now (the bucket may go
        below zero): what a misbehaving client did counts against its next requests."""
        if self.rate <= 0:
            return
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        self._buckets[key] = (tokens - cost, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)

    def take(self, key: str, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``key``'s bucket, or raise RateLimited (429)."""
        if self.rate <= 0:
            return
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            raise RateLimited(
                f"rate limit for {key}", retry_after=int((cost - tokens) / self.rate) + 1
            )
        self._buckets[key] = (tokens - cost, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
