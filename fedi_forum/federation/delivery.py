"""The delivery worker: sends what the forum queued, to every follower's server.

Shape (docs/rules.md §14, docs/delivery.md, LemmyNet/lemmy#4529/#4623):

* Deliveries are rows; order is kept per *lane* — an inbox and the object the activity
  is about (Create before Update before Delete of one note) — and the worker leases the
  head of each lane, so one activity a server never answers holds back only what comes
  after it about the same object (docs/delivery.md). After a success the same
  transaction that records it leases the inbox's next lane head, so a busy inbox drains
  without waiting for a claim cycle.
* How many deliveries one server gets at once, and how long we wait for it, is
  ``hosts.HostHealth``: slow start, short timeouts for silent servers, a circuit
  breaker, and poisoned activities set aside after a few unanswered attempts.
* Leases name this worker (``liveness``); a worker that starts or beats its heart frees
  the leases of workers provably gone, so ``kill -9`` and a restart resume at once.
* Retries follow ``retry.decide`` (Mastodon's salvageable codes, backoff with jitter for
  ~2 days, Retry-After honoured); 410 removes the follower; a server failing for 3 days
  is skipped, with one probe an hour, until it answers or sends us something.
* Signatures (the signing actor's key) are cached per delivery for 30 minutes, so
  retries inside the window do not re-sign. Servers whose NodeInfo says they verify
  RFC 9421 (Mastodon ≥ 4.5, fedi-forum, …) get it first and draft-cavage at once if they
  answer 400/401 ("double-knocking", as Fedify does); others get draft-cavage; what
  each server accepted is remembered.
* Dialect per server, from its NodeInfo (cached in ``instances``, admin override wins):
  group servers get FEP-1b12 ``Announce{Create}``; everyone else, and anyone we are
  unsure about, gets ``Announce{object: id}``, which Mastodon understands.
* A worker runs inside ``fedi-forum serve`` and as ``fedi-forum worker``; several can run
  against one database without sending a row twice at once.
* Yielding: inside ``serve`` the worker shares the process (its event loop and, on two
  cores, most of the CPU: a delivery's signature alone is 0.2-0.9 ms) with the inbox.
  While the process is busy answering requests (``busy``, web/admission.Load), it sends
  at most ``YIELD_FLOOR`` deliveries at a time and claims lanes for no more than that,
  but makes a full claim every ``YIELD_CLAIM_EVERY`` seconds and lets a delivery wait
  at most ``YIELD_MAX`` for its turn: however long the process stays busy, and even if
  servers that never answer hold the few turns, every due delivery is sent within
  seconds, and no lease (120 s) comes near its end. An accepted reply waits for nobody;
  its Announce may wait a few seconds, and the queue drains when the burst is over
  (bench/README.md, G1-default).

The loop, the send and its outcome stay in one module (over 400 lines): the policies it
applies are pure modules of their own (hosts, retry, liveness, dereference).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from fedi_forum.activitypub import parse, signatures
from fedi_forum.activitypub.urls import LocalKind, Urls
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError, FetchError, NoAnswer, UnsafeUrl
from fedi_forum.federation import dereference, hosts, liveness, retry
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import FederationClient
from fedi_forum.models import Dialect, SignatureSpec, format_time, parse_time
from fedi_forum.store import Store
from fedi_forum.store.deliveries import Claim, DeliveryRow
from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.keyring import Keyring
from fedi_forum.store.workers import WorkerRow
from fedi_forum.telemetry import NOOP, Telemetry

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 200
YIELD_FLOOR = 2  # deliveries sent at a time while the process is busy
YIELD_MAX = 1.0  # seconds a delivery waits for its turn at most
YIELD_CLAIM_EVERY = 5.0  # seconds between full claims while busy
YIELD_STEP = 0.01
UNSAFE = "refused by the address guard: "  # marks a delivery that can never be made
POLL_SECONDS = 1.0
SIGNATURE_REUSE = timedelta(minutes=30)
NODEINFO_TTL = timedelta(days=7)
GROUP_SOFTWARE = frozenset({"lemmy", "piefed", "mbin", "kbin", "nodebb", "fedi-forum", "lotide"})
RFC9421_SOFTWARE = frozenset({"fedi-forum", "hollo", "hackerspub"})


def _never() -> bool:
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class Attempt:
    status: int | None  # None: no HTTP answer
    retry_after: str | None = None
    error: str | None = None
    unanswered: bool = False  # the server took the request and stayed silent


@dataclasses.dataclass(frozen=True, slots=True)
class Server:
    dialect: Dialect
    software: str | None
    version: str | None


def speaks_rfc9421(server: Server) -> bool:
    """Servers known to verify RFC 9421 get it first (with the draft-cavage fallback);
    everyone else draft-cavage, which every server accepts and which costs us less CPU
    to make (measured: ~1.1 vs ~1.5 ms per delivery)."""
    if server.software in RFC9421_SOFTWARE:
        return True
    if server.software == "mastodon" and server.version:
        parts = server.version.split(".")
        try:
            return (int(parts[0]), int(parts[1])) >= (4, 5)
        except (ValueError, IndexError):
            return False
    return False


class DeliveryWorker:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: FederationClient,
        keyring: Keyring,
        blocklist: Blocklist,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.keyring = keyring
        self.blocklist = blocklist
        self.urls = Urls(settings.base_url)
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter
        self.health = hosts.HostHealth()
        self.identity: WorkerRow = liveness.this_worker(format_time(self._now()))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lanes: dict[int, asyncio.Task[None]] = {}
        self._lane_ids = 0
        self._current: dict[int, int] = {}  # lane → the row it holds
        self._inflight: Counter[str] = Counter()  # host → deliveries in flight
        self._keys: dict[str, RSAPrivateKey] = {}
        self._signed: OrderedDict[tuple[int, str], tuple[datetime, dict[str, str]]] = OrderedDict()
        self._specs: dict[str, SignatureSpec | None] = {}
        self._servers: dict[str, tuple[Server, datetime]] = {}
        self._server_locks: dict[str, asyncio.Lock] = {}
        self._stopping = False
        self._beat_at = 0.0
        self._lease = timedelta(seconds=settings.delivery_lease_seconds)
        self.sent = 0  # observable for tests and benchmarks
        self.telemetry: Telemetry = NOOP
        self.reclaimed = 0  # rows freed from workers found gone
        self.busy: Callable[[], bool] = _never  # ``serve``: its requests in flight
        self._sending = 0
        self._full_claim_at = 0.0  # monotonic

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self._keep_alive()  # frees a dead predecessor's leases before the first claim
        await self.store.db.on_new_deliveries(self.wake)  # PostgreSQL: any host's queueing
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    def wake(self) -> None:
        """New work was queued: claim now instead of at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        lanes = list(self._lanes.values())
        if lanes:
            _, pending = await asyncio.wait(lanes, timeout=grace)
            for lane in pending:
                lane.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # Give back the leases of what was cut short, so another worker (or the next
        # start) sends it at once. After a crash, the next worker to start on this
        # machine (or any worker, once the heartbeat is stale) frees them.
        if self._current:
            await self.store.release_deliveries(list(self._current.values()))
            self._current.clear()
        await self.store.forget_worker(self.identity.id)

    async def drain(self) -> None:
        """Wait until nothing is due or in flight (tests, the CLI; bound it with
        ``asyncio.timeout``)."""
        while True:
            self.wake()
            await asyncio.sleep(0.05)
            if not self._lanes and not await self._due_exists():
                return

    async def _due_exists(self) -> bool:
        return await self.store.has_due_deliveries(format_time(self._now()))

    async def _keep_alive(self) -> None:
        """Heartbeat, and free the leases of workers that are gone."""
        self._beat_at = time.monotonic()
        freed = await liveness.beat(self.store, self.identity)
        if freed:
            self.reclaimed += freed
            log.warning("freed %d leases of delivery workers that are gone", freed)
            self._wake.set()

    # -- the claim loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                if time.monotonic() - self._beat_at >= liveness.HEARTBEAT_SECONDS:
                    await self._keep_alive()
                await self._claim()
            except Exception:
                log.exception("claiming deliveries failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    def _room(self) -> dict[str, int]:
        """Deliveries each server may still take now, for the servers that are busy or
        in trouble; the claim gives others the default (slow start for the unknown)."""
        mono = time.monotonic()
        names = set(self._inflight) | self.health.troubled()
        return {h: max(0, self.health.limit(h, mono) - self._inflight[h]) for h in names}

    async def _claim(self) -> None:
        free = MAX_IN_FLIGHT - len(self._lanes)
        mono = time.monotonic()
        if self.busy() and mono - self._full_claim_at < YIELD_CLAIM_EVERY:
            free = min(free, YIELD_FLOOR - len(self._lanes))  # yielding: a few lanes
        else:
            self._full_claim_at = mono
        if free <= 0:
            return
        now = self._now()
        rows = await self.store.claim_deliveries(
            Claim(
                now=format_time(now),
                lease_until=format_time(now + self._lease),
                owner=self.identity.id,
                limit=free,
                per_host=hosts.PER_HOST,
                start=hosts.START,
                room=self._room(),
                probe_before=format_time(now - retry.PROBE_INTERVAL),
            )
        )
        for row in rows:
            self._lane_ids += 1
            lane = self._lane_ids
            self._inflight[row.host] += 1
            self._lanes[lane] = asyncio.create_task(self._lane(lane, row), name="delivery-lane")

    async def _lane(self, lane: int, row: DeliveryRow) -> None:
        host = row.host
        current: DeliveryRow | None = row
        try:
            while current is not None and not self._stopping:
                self._current[lane] = current.id
                await self._turn()
                self._sending += 1
                try:
                    current = await self._deliver(current)
                finally:
                    self._sending -= 1
            if current is not None:  # stopping: the next row was leased but will not be sent
                self._current[lane] = current.id
            else:
                self._current.pop(lane, None)
        except Exception:
            log.exception("delivery lane for %s failed", row.inbox)
            self._current.pop(lane, None)
        finally:
            self._lanes.pop(lane, None)
            self._inflight[host] -= 1
            if self._inflight[host] <= 0:
                del self._inflight[host]
            self._wake.set()

    async def _turn(self) -> None:
        """Yielding (module docstring): while the process is busy, wait until fewer than
        ``YIELD_FLOOR`` deliveries are being sent, ``YIELD_MAX`` at most."""
        waited = 0.0
        while self._sending >= YIELD_FLOOR and waited < YIELD_MAX and self.busy():
            await asyncio.sleep(YIELD_STEP)
            waited += YIELD_STEP

    # -- one delivery ------------------------------------------------------------------------

    async def _deliver(self, row: DeliveryRow) -> DeliveryRow | None:
        sent_at = time.monotonic()
        attempt = await self._send(row)
        mono = time.monotonic()
        status = attempt.status
        if status is not None and status < 500 and status != 429:
            self.health.answered(row.host, mono)
        elif attempt.error is None or not (
            attempt.error == "blocked" or attempt.error.startswith(UNSAFE)
        ):
            self.health.failed(row.host, mono, unanswered=attempt.unanswered)
        # A timeout while the server answered others: this activity is the trouble.
        poisoned = attempt.unanswered and self.health.blames_activity(row.host, sent_at)
        now = self._now()
        verdict = retry.decide(
            status,
            attempts=row.attempts + 1,
            created_at=parse_time(row.created_at),
            now=now,
            retry_after=attempt.retry_after,
            rng=self.rng,
        )
        outcome = verdict.decision.value
        if attempt.error == "blocked":
            outcome = retry.Decision.GIVE_UP.value
        elif attempt.error is not None and attempt.error.startswith(UNSAFE):
            # An inbox the address guard refuses (loopback, private ranges, a name that
            # resolves there) never becomes deliverable: no two days of retries; the
            # follows that lead to it end, like a 410.
            outcome = retry.Decision.GONE.value
        elif poisoned and row.timeouts + 1 >= hosts.POISON_TIMEOUTS:
            outcome = "aside"
        self.telemetry.delivery(outcome)
        if outcome == retry.Decision.DONE.value:
            self.sent += 1
            for spec in SignatureSpec:
                self._signed.pop((row.id, spec), None)
        else:
            log.info(
                "delivery %s to %s: %s (%s)",
                row.activity_id,
                row.inbox,
                outcome,
                attempt.error or status,
            )
        return await self.store.record_delivery(
            row,
            outcome=outcome,
            status=status,
            error=attempt.error,
            next_attempt_at=format_time(verdict.next_attempt_at)
            if verdict.next_attempt_at
            else None,
            now=format_time(now),
            lease_until=format_time(now + self._lease),
            unavailable_after=format_time(now - retry.UNAVAILABLE_AFTER),
            owner=self.identity.id,
            unanswered=poisoned,
        )

    async def _send(self, row: DeliveryRow) -> Attempt:
        """POST one delivery."""
        if self.blocklist.is_blocked_url(row.inbox):
            return Attempt(None, error="blocked")
        timeout = self.health.timeout(row.host)
        try:
            dialect = await self._dialect(row)
            body = (
                row.group_payload if dialect is Dialect.GROUP and row.group_payload else row.payload
            ).encode()
            if not body:
                return Attempt(204)  # nothing for this server's dialect (e.g. an edit)
            known = await self._known_spec(row.host)
            spec = known or (
                SignatureSpec.RFC9421
                if speaks_rfc9421(await self._server(row))
                else SignatureSpec.CAVAGE
            )
            status, retry_after = await self.client.post(
                row.inbox, body, await self._signature(row, body, spec), wait=timeout
            )
            if known is None and spec is SignatureSpec.RFC9421 and status in (400, 401):
                # Double-knocking (as Fedify does): a server that refuses an RFC 9421
                # signature gets draft-cavage at once, and we remember what it accepts.
                spec = SignatureSpec.CAVAGE
                status, retry_after = await self.client.post(
                    row.inbox, body, await self._signature(row, body, spec), wait=timeout
                )
            if status < 300 and known != spec:
                self._specs[row.host] = spec
                await self.store.set_signature_spec(row.host, spec)
        except UnsafeUrl as exc:
            return Attempt(None, error=f"{UNSAFE}{exc}"[:500])
        except NoAnswer as exc:
            return Attempt(None, error=str(exc)[:500], unanswered=True)
        except FetchError as exc:
            return Attempt(None, error=str(exc)[:500])
        except FediForumError as exc:
            return Attempt(None, error=str(exc)[:500])
        return Attempt(status, retry_after, None if status < 300 else f"HTTP {status}")

    async def _known_spec(self, host: str) -> SignatureSpec | None:
        if host not in self._specs:
            info = await self.store.instance(host)
            known = info.signature_spec if info else None
            self._specs[host] = SignatureSpec(known) if known else None
        return self._specs[host]

    async def _signature(
        self, row: DeliveryRow, body: bytes, spec: SignatureSpec
    ) -> dict[str, str]:
        now = self._now()
        cached = self._signed.get((row.id, spec))
        if cached is not None and now - cached[0] < SIGNATURE_REUSE:
            return cached[1]
        sign = (
            signatures.sign_request_rfc9421
            if spec is SignatureSpec.RFC9421
            else signatures.sign_request
        )
        headers = sign(
            method="POST",
            url=row.inbox,
            key_id=self.urls.key_id(row.signer),
            private_key=await self._key_for(row.signer),
            body=body,
            now=now,
        )
        self._signed[(row.id, spec)] = (now, headers)
        if len(self._signed) > 50_000:
            self._signed.popitem(last=False)
        return headers

    async def _key_for(self, signer: str) -> RSAPrivateKey:
        key = self._keys.get(signer)
        if key is None:
            ref = self.urls.parse(signer)
            if ref is not None and ref.kind is LocalKind.INSTANCE:
                name = INSTANCE_KEY
            elif ref is not None and ref.kind is LocalKind.GROUP:
                name = f"group-{ref.slug}"
            elif ref is not None and ref.kind is LocalKind.CATEGORY:
                name = f"category-{ref.slug}"  # forum/categories.category_key_name
            else:
                raise FediForumError(f"no local key for {signer}")
            key = self._keys[signer] = await self.keyring.load(name)
        return key

    # -- dialects -----------------------------------------------------------------------------

    async def _dialect(self, row: DeliveryRow) -> str:
        if row.group_payload is None:
            return Dialect.MICROBLOG  # nothing to choose
        return (await self._server(row)).dialect

    async def _server(self, row: DeliveryRow) -> Server:
        """What we know of a server (NodeInfo, cached a week in the database and an hour
        here; an admin's dialect override wins); one NodeInfo fetch per server at once."""
        now = self._now()
        cached = self._servers.get(row.host)
        if cached is not None and now - cached[1] < timedelta(hours=1):
            return cached[0]
        lock = self._server_locks.setdefault(row.host, asyncio.Lock())
        async with lock:
            cached = self._servers.get(row.host)
            if cached is not None and now - cached[1] < timedelta(hours=1):
                return cached[0]
            server = await self._load_server(row, now)
            self._servers[row.host] = (server, now)
            return server

    async def _load_server(self, row: DeliveryRow, now: datetime) -> Server:
        info = await self.store.instance(row.host)
        fresh = (
            info is not None
            and info.dialect is not None
            and info.nodeinfo_fetched_at is not None
            and now - parse_time(info.nodeinfo_fetched_at) < NODEINFO_TTL
        )
        if fresh and info is not None and info.dialect is not None:
            software, version, dialect = info.software, info.version, Dialect(info.dialect)
        else:
            software, version = await self._nodeinfo(row.inbox)
            dialect = Dialect.GROUP if software in GROUP_SOFTWARE else Dialect.MICROBLOG
            await self.store.set_instance_software(
                row.host,
                software=software,
                version=version,
                dialect=dialect,
                now=format_time(now),
            )
        if info is not None and info.dialect_override:
            dialect = Dialect(info.dialect_override)
        return Server(dialect, software, version)

    async def _nodeinfo(self, inbox: str) -> tuple[str | None, str | None]:
        """(software name, version) from the server's NodeInfo; (None, None) if unknown."""
        try:
            return await dereference.software(self.client, inbox)
        except FediForumError as exc:
            log.info("no NodeInfo for %s: %s", parse.host_of(inbox), exc)
            return None, None

    def _now(self) -> datetime:
        return datetime.now(UTC)
