"""A page-view counter that respects privacy.

No cookies, and no IP address is ever stored. A view is identified by a keyed hash of
(client address, user agent, discussion) under a random salt that lives only in memory
and is replaced every day, so yesterday's hashes cannot be linked to today's and nothing
on disk can be reversed to an address. The same visitor reloading within the dedupe
window counts once, so a reload storm barely moves the counter.

Counts are flushed to the database in batches (one write for many views): a crash loses
at most one flush interval of views, which is acceptable for a counter and keeps page
views off the write path that replies depend on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable

from fedi_forum.store.discussions import DiscussionStore
from fedi_forum.tasks import cancelled

log = logging.getLogger(__name__)

DEDUPE_SECONDS = 30 * 60
SALT_SECONDS = 24 * 60 * 60
MAX_TRACKED = 100_000  # bounded memory under a flood of distinct clients
FLUSH_SECONDS = 2.0


class ViewCounter:
    def __init__(self, store: DiscussionStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._salt = secrets.token_bytes(32)
        self._salt_born = clock()
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._pending: defaultdict[int, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    def record(self, discussion_id: int, client: str, user_agent: str) -> bool:
        """Count a view unless this client viewed this discussion recently. Returns
        whether it counted."""
        now = self._clock()
        if now - self._salt_born > SALT_SECONDS:
            self._salt, self._salt_born = secrets.token_bytes(32), now
            self._seen.clear()
        key = hmac.new(
            self._salt, f"{discussion_id}\0{client}\0{user_agent}".encode(), hashlib.sha256
        ).digest()[:16]
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at < DEDUPE_SECONDS:
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_TRACKED:
            self._seen.popitem(last=False)
        self._pending[discussion_id] += 1
        return True

    def pending(self, discussion_id: int) -> int:
        """Views counted but not yet flushed (shown so a visitor sees their own view)."""
        return self._pending.get(discussion_id, 0)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = dict(self._pending), defaultdict(int)
        try:
            await self._store.add_views(batch)
        except Exception:
            log.exception("could not store %d view counts; keeping them", sum(batch.values()))
            for discussion_id, n in batch.items():
                self._pending[discussion_id] += n

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="view-counter")

    async def stop(self) -> None:
        await cancelled(self._task)
        self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()
