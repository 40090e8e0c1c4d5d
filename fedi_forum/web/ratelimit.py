"""Rate limits: the public forms' (shared by every host) and the inboxes' (per process).

Forms (login, report, "reply from your server"): a few hits per client per ten minutes,
so each hit is one upsert in the database, and a client spraying across every process
and host gets the one budget (a password guesser behind a load balancer does not get
N tries per host). The window slides: the previous fixed window's hits count in
proportion to how much of it still overlaps (the estimate Cloudflare described for its
limiter), which needs two counters per client instead of a row per hit. Clients are a
keyed hash (HMAC with the instance's ``ratelimit`` secret): the address is never stored.

Inboxes: token buckets in each process, spent before any signature work. A database
round trip per inbox POST would cost more than the work it guards, so these stay local
and the bound is stated instead: N serving processes in all (hosts x ``--workers``)
give a client at most N times ``FEDI_FORUM_INBOX_RATE`` (docs/postgresql.md; the
multi-host test measures it).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from fedi_forum.errors import RateLimited
from fedi_forum.store.ratelimits import RateLimitStore

MAX_KEYS = 50_000


class RateLimiter:
    def __init__(
        self,
        store: RateLimitStore,
        scope: str,
        *,
        limit: int,
        window: int,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.scope = scope
        self.limit = limit
        self.window = window
        self.secret = secret
        self.clock = clock  # wall time: every host must agree on the windows

    async def hit(self, client: str) -> None:
        """Count one use; raise RateLimited (429 with Retry-After) past the budget. Refused
        hits count too: a client that keeps trying stays refused."""
        key = hmac.new(self.secret, client.encode(), hashlib.sha256).hexdigest()[:32]
        slot, into = divmod(self.clock(), self.window)
        before, now = await self.store.count_hit(self.scope, key, int(slot))
        weight = 1 - into / self.window
        if before * weight + now <= self.limit:
            return
        if now > self.limit:  # even the next window starts over: wait for it to decay
            wait = self.window - into + self.window * (1 - self.limit / now)
        else:  # the previous window's share must decay below what is left
            wait = self.window * (1 - (self.limit - now) / before) - into
        raise RateLimited(f"{self.scope} rate limit", retry_after=max(1, math.ceil(wait)))


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
