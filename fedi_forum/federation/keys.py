"""Who signed this request? keyId → owner actor → verified public key.

Rules (docs/rules.md §1, §11):

* The keyId is attacker-controlled: its host is checked against the blocklist before any
  fetch, and fetched only through the SSRF-guarded client.
* Bidirectional check: the key's owner is an actor whose ``publicKey.id`` is the keyId
  (Mastodon's FetchRemoteKeyService). A keyId may point at the actor itself
  (``…#main-key``), at a stub (GoToSocial's ``…/main-key``) or at a key document.
* Parsed keys are cached in memory; actors (with their PEM) in the database, so a
  restart does not refetch every key.
* Single-flight: concurrent requests for one unknown key cause one fetch.
* Negative cache: a key that could not be fetched is not tried again for a while.
* Per-host budget: after ``HOST_BUDGET`` failed fetches from a host within a minute,
  no more fetches go there until the minute is over, so one sender cannot make us
  hammer a third party (or ourselves) with keyIds that lead nowhere. Fetches that work
  are not limited in number (a popular server sends many new actors at once; each key
  is fetched once), only in concurrency: at most ``HOST_CONCURRENCY`` at a time.
* On a verification failure with a cached key, the key is refetched once (rotation),
  at most once per ``REFRESH_INTERVAL`` per key. Anyone can cause that (a forged
  signature names any keyId), so the key we hold stays in use while the refetch runs
  and after it fails; only the actor's server saying it is gone (410) drops it, from
  memory and from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from fedi_forum.activitypub import parse, signatures
from fedi_forum.errors import (
    Blocked,
    FediForumError,
    FetchError,
    KeyFetchFailed,
    Overloaded,
    SignatureInvalid,
)
from fedi_forum.federation import dereference
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import FederationClient, Fetched, GoneError
from fedi_forum.models import RemoteActor, utcnow
from fedi_forum.store.actors import ActorStore
from fedi_forum.telemetry import NOOP, Telemetry

log = logging.getLogger(__name__)

NEGATIVE_TTL = 300.0
REFRESH_INTERVAL = 60.0
HOST_BUDGET = 30  # failed fetches per host per minute
HOST_WINDOW = 60.0
HOST_CONCURRENCY = 16  # key fetches in flight to one host
MAX_CACHED = 50_000
# Requests waiting on keys we do not hold (fetching, or queued behind HOST_CONCURRENCY):
# in all, and per keyId host. A popular server's burst of new actors fits well inside;
# a flood of made-up keyIds on slow servers is answered 503 past it.
MAX_UNKNOWN_WAITING = 512
MAX_UNKNOWN_PER_HOST = 128

WaitOutside = Callable[[], contextlib.AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def _nothing_to_set_aside() -> AsyncIterator[None]:
    yield


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedKey:
    key_id: str
    actor: RemoteActor
    key: RSAPublicKey


class KeyResolver:
    def __init__(
        self,
        store: ActorStore,
        client: FederationClient,
        blocklist: Blocklist,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.client = client
        self.blocklist = blocklist
        self.clock = clock
        self._cache: dict[str, VerifiedKey] = {}
        self._inflight: dict[str, asyncio.Future[VerifiedKey]] = {}
        self._failed: dict[str, float] = {}
        self._refreshed: dict[str, float] = {}
        self._host_failures: dict[str, list[float]] = {}
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._host_users: dict[str, int] = {}
        self._unknown_total = 0
        self._unknown_by_host: dict[str, int] = {}
        self.fetch_count = 0  # observable for tests and benchmarks
        self.telemetry: Telemetry = NOOP

    async def verify(
        self, request: signatures.Request, while_fetching: WaitOutside = _nothing_to_set_aside
    ) -> VerifiedKey:
        """Verify the request's signature; return the signer. Raises 401/403 errors.

        ``while_fetching()`` is entered around a fetch of a key we do not hold (the web
        layer gives back the request's admission slot there: a flood of unknown signers
        on slow servers must not hold the slots pages and known senders need)."""
        claim = signatures.read_signature(request)
        self.blocklist.check_url(claim.key_id)
        cached = self._cache.get(claim.key_id)
        if cached is not None:
            known = cached
        else:
            async with self._unknown_signer(claim.key_id), while_fetching():
                known = await self.key_for(claim.key_id)
        try:
            claim.verify(known.key)
        except SignatureInvalid:
            fresh = await self.refresh(claim.key_id)
            if fresh is None or fresh.key.public_numbers() == known.key.public_numbers():
                raise
            claim.verify(fresh.key)
            return fresh
        return known

    async def key_for(self, key_id: str) -> VerifiedKey:
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        failed_at = self._failed.get(key_id)
        if failed_at is not None and self.clock() - failed_at < NEGATIVE_TTL:
            raise KeyFetchFailed(f"key {key_id} failed recently")
        stored = await self.store.actor_by_key_id(key_id)
        if stored is not None and stored.public_key_pem:
            verified = VerifiedKey(
                key_id, stored, signatures.load_public_key(stored.public_key_pem)
            )
            self._remember(verified)
            return verified
        return await self._single_flight(key_id)

    async def refresh(self, key_id: str) -> VerifiedKey | None:
        """The key as its owner publishes it now, or None (refreshed within the last
        ``REFRESH_INTERVAL``, or the fetch failed). The key held meanwhile is not
        dropped: a forged signature while the actor's server does not answer (down,
        overloaded) would otherwise make us refuse the actor's own requests for
        ``NEGATIVE_TTL``, and a forger can name any keyId."""
        last = self._refreshed.get(key_id)
        if last is not None and self.clock() - last < REFRESH_INTERVAL:
            return None
        self._refreshed[key_id] = self.clock()
        try:
            return await self._single_flight(key_id, fresh=True)
        except KeyFetchFailed as exc:
            if isinstance(exc.__cause__, GoneError):  # deleted on its server: its key
                self._cache.pop(key_id, None)  # no longer speaks for it, here or stored
                await self.store.key_gone(key_id)
            else:  # the held key answers for the actor until a fetch works
                self._failed.pop(key_id, None)
            return None
        except FediForumError:
            return None

    async def _single_flight(self, key_id: str, *, fresh: bool = False) -> VerifiedKey:
        # Looked up again (unless a fresh copy is asked for): a caller whose database
        # read was in flight while another fetch finished would otherwise fetch the same
        # key a second time.
        cached = None if fresh else self._cache.get(key_id)
        if cached is not None:
            return cached
        pending = self._inflight.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[VerifiedKey] = asyncio.get_running_loop().create_future()
        self._inflight[key_id] = future
        try:
            verified = await self._fetch(key_id)
        except FediForumError as exc:
            self.telemetry.key_fetch("refused" if isinstance(exc, Blocked) else "failed")
            self._failed[key_id] = self.clock()
            self._note_failure(key_id)
            failure = KeyFetchFailed(f"key {key_id}: {exc}")
            future.set_exception(failure)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise failure from exc
        else:
            self.telemetry.key_fetch("fetched")
            future.set_result(verified)
            self._failed.pop(key_id, None)
            self._remember(verified)
            await self.store.upsert_actor(verified.actor)
            return verified
        finally:
            del self._inflight[key_id]

    @contextlib.asynccontextmanager
    async def _unknown_signer(self, key_id: str) -> AsyncIterator[None]:
        """Bound how many requests wait on keys we do not hold: at most
        ``MAX_UNKNOWN_WAITING`` in all and ``MAX_UNKNOWN_PER_HOST`` per keyId host
        (counting those fetching and those queued behind ``HOST_CONCURRENCY``); past
        that, 503 at once, without any fetch (the sender retries later)."""
        host = parse.host_of(key_id) if parse.is_http_url(key_id) else key_id[-253:]
        per_host = self._unknown_by_host.get(host, 0)
        if self._unknown_total >= MAX_UNKNOWN_WAITING or per_host >= MAX_UNKNOWN_PER_HOST:
            raise Overloaded(f"too many unknown signers waiting ({host})", retry_after=10)
        self._unknown_total += 1
        self._unknown_by_host[host] = per_host + 1
        try:
            yield
        finally:
            self._unknown_total -= 1
            left = self._unknown_by_host[host] - 1
            if left:
                self._unknown_by_host[host] = left
            else:
                del self._unknown_by_host[host]

    def forget(self, actor_id: str) -> None:
        """Drop cached keys of an actor (it updated or deleted itself)."""
        for key_id in [k for k, v in self._cache.items() if v.actor.id == actor_id]:
            del self._cache[key_id]

    def _remember(self, verified: VerifiedKey) -> None:
        if len(self._cache) >= MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[verified.key_id] = verified

    def _recent_failures(self, host: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._host_failures.get(host, ()) if now - t < HOST_WINDOW]
        if recent:
            self._host_failures[host] = recent
        else:
            self._host_failures.pop(host, None)  # bounded: only hosts failing right now
        return recent

    def _check_budget(self, url: str) -> None:
        host = parse.host_of(url)
        if len(self._recent_failures(host)) >= HOST_BUDGET:
            raise KeyFetchFailed(f"key-fetch budget for {host} spent")

    def _note_failure(self, url: str) -> None:
        host = parse.host_of(url) if parse.is_http_url(url) else url.rpartition("@")[2]
        self._host_failures[host] = [*self._recent_failures(host), self.clock()]

    async def _get(self, url: str) -> Fetched:
        self._check_budget(url)
        host = parse.host_of(url)
        slots = self._host_slots.get(host)
        if slots is None:
            slots = self._host_slots[host] = asyncio.Semaphore(HOST_CONCURRENCY)
        self._host_users[host] = self._host_users.get(host, 0) + 1
        try:
            async with slots:
                self.fetch_count += 1
                return await dereference.document(self.client, self.blocklist, url)
        finally:
            self._host_users[host] -= 1
            if not self._host_users[host]:  # idle: keep nothing per host
                del self._host_users[host], self._host_slots[host]

    async def _fetch(self, key_id: str) -> VerifiedKey:
        if key_id.startswith("acct:"):
            actor = await self._actor_by_webfinger(key_id)
            pem = actor.actor.public_key_pem
            if not pem:
                raise KeyFetchFailed("actor has no key")
            return VerifiedKey(key_id, actor.actor, signatures.load_public_key(pem))
        if not parse.is_http_url(key_id):
            raise SignatureInvalid("keyId is not an http(s) URL")
        fetched = await self._get(parse.strip_fragment(key_id))
        doc = fetched.document
        if parse.types_of(doc) & parse.ACTOR_TYPES:
            actor = parse.parse_actor(doc, utcnow())
            if actor.actor.id != fetched.url:
                # a stub (GoToSocial's /main-key) or a redirect: fetch the actor by its id,
                # where the document must say it is that id.
                actor = await self._fetch_actor(actor.actor.id)
        else:
            owner = parse.id_of(doc.get("owner"))
            if owner is None or not isinstance(doc.get("publicKeyPem"), str):
                raise KeyFetchFailed("keyId is neither an actor nor a key")
            actor = await self._fetch_actor(owner)
        if actor.key_id != key_id or not actor.actor.public_key_pem:
            raise KeyFetchFailed("the owner's publicKey.id does not correspond to the keyId")
        if actor.key_owner is not None and actor.key_owner != actor.actor.id:
            raise KeyFetchFailed("the key's owner is not the actor")
        return VerifiedKey(
            key_id, actor.actor, signatures.load_public_key(actor.actor.public_key_pem)
        )

    async def _fetch_actor(self, actor_id: str) -> parse.ParsedActor:
        return dereference.actor(await self._get(actor_id), actor_id)

    async def fetch_actor(self, actor_id: str) -> RemoteActor:
        """An actor by id (for authors and followers we have not seen yet), cached."""
        stored = await self.store.actor(actor_id)
        if stored is not None:
            return stored
        actor = (await self._fetch_actor(actor_id)).actor
        await self.store.upsert_actor(actor)
        return actor

    async def actor_by_handle(self, user: str, host: str) -> parse.ParsedActor:
        """``user@host`` → its actor document, by WebFinger (through the SSRF guard)."""
        return await self._actor_by_webfinger(f"acct:{user}@{host}")

    async def _actor_by_webfinger(self, acct: str) -> parse.ParsedActor:
        user, _, host = acct.removeprefix("acct:").rpartition("@")
        if not host:
            raise KeyFetchFailed("bad acct: keyId")
        self._check_budget(dereference.webfinger_url(self.client, user, host))
        try:
            fetched = await dereference.webfinger(self.client, self.blocklist, user, host)
        except FetchError as exc:
            raise KeyFetchFailed(f"WebFinger for {acct} failed") from exc
        links = fetched.document.get("links")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and link.get("rel") == "self":
                href = parse.id_of(link.get("href"))
                if href:
                    return await self._fetch_actor(href)
        raise KeyFetchFailed(f"WebFinger for {acct} has no actor")
