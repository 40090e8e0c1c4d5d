"""Blocked domains and actors, checked at every entry point (docs/rules.md §12).

Domains match with their subdomains (blocking ``example.com`` blocks
``social.example.com``), after IDNA normalisation and lower-casing. The list lives in
the database (so every process and the CLI share it) and is held in memory, reloaded
at most every ``RELOAD_SECONDS``: checks are synchronous and cost a few set lookups.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from fedi_forum.errors import Blocked
from fedi_forum.store.moderation import ModerationStore

RELOAD_SECONDS = 10.0


def normalise_domain(domain: str) -> str:
    """Lower-case, IDNA (punycode) form, without a trailing dot; '' when invalid."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


class Blocklist:
    def __init__(self, store: ModerationStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._domains: frozenset[str] = frozenset()
        self._actors: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    def replace(self, domains: Iterable[str], actors: Iterable[str]) -> None:
        self._domains = frozenset(d for d in map(normalise_domain, domains) if d)
        self._actors = frozenset(actors)
        self._loaded_at = self.clock()

    async def reload(self) -> None:
        domains, actors = await self.store.blocks()
        self.replace(domains, actors)

    async def maybe_reload(self) -> None:
        if self.clock() - self._loaded_at > RELOAD_SECONDS:
            await self.reload()

    def is_blocked_domain(self, host: str) -> bool:
        if not self._domains:
            return False
        labels = normalise_domain(host).split(".")
        return any(".".join(labels[i:]) in self._domains for i in range(len(labels)))

    def is_blocked_url(self, url: str) -> bool:
        host = _hostname(url)
        return self.is_blocked_domain(host) or url.split("#", 1)[0] in self._actors

    def check_url(self, url: str) -> None:
        if self.is_blocked_url(url):
            raise Blocked(f"{url} is blocked")

    def check_urls(self, urls: Iterable[str]) -> None:
        for url in urls:
            self.check_url(url)


@functools.lru_cache(maxsize=8192)
def _hostname(url: str) -> str:
    # cached: every activity repeats its actor's and its addressees' URLs
    return urlsplit(url).hostname or ""
