"""``GET /metrics`` in the Prometheus text format (prometheus-client).

Only from the addresses in ``FEDI_FORUM_METRICS_ALLOW`` (default loopback) or with the
bearer token ``FEDI_FORUM_METRICS_TOKEN``; anyone else gets 404 (nothing to probe).

With several uvicorn workers, ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory before the workers start: every worker's counters live in memory-mapped files
there, and a scrape of any worker sums them all (prometheus-client's multiprocess mode),
so the figures are the server's, not one worker's. Each request's count and time are
added there at most ``FLUSH_EVERY`` later, many at a time (``Metrics.observe``).

Labels are bounded: route families (a dozen), status codes from a fixed set, inbox,
delivery and key-fetch outcomes from fixed sets; never a path or actor. The one label
that names remote servers, the failures per server, is read from the database at
scrape time and holds the ``TOP_HOSTS`` worst servers plus "other".

The lower layers report through ``telemetry.Telemetry``, which ``Metrics`` implements.
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
import ipaddress
import os
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum import __version__
from fedi_forum.errors import NotFound
from fedi_forum.models import parse_time
from fedi_forum.telemetry import Telemetry
from fedi_forum.web.state import client_address, services

TOP_HOSTS = 10  # failing servers named in fedi_forum_delivery_host_failures
FLUSH_EVERY = 1.0  # seconds a request's count and time may wait to reach the figures
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

STATUSES = frozenset(
    {
        "200",
        "201",
        "202",
        "204",
        "301",
        "302",
        "303",
        "304",
        "400",
        "401",
        "403",
        "404",
        "405",
        "406",
        "408",
        "409",
        "410",
        "413",
        "414",
        "415",
        "429",
        "500",
        "502",
        "503",
    }
)
OUTCOMES = frozenset(
    {"accepted", "duplicate", "ignored", "held", "rejected", "withdrawn"}
)  # anything else counts as its HTTP status: refused_401 …


# first path segment → route family (the label of every request; bounded)
_FAMILIES = {
    "d": "discussion",
    "r": "remote",
    ".well-known": "discovery",
    "nodeinfo": "discovery",
    "admin": "admin",
    "media": "media",
    "static": "static",
    "actor": "actor",
    "staff": "actor",
    "healthz": "health",
    "readyz": "health",
    "metrics": "metrics",
    "feed.rss": "feed",
    "feed.atom": "feed",
    "modlog": "page",
    "modlog.rss": "feed",
}


def route_family(path: str) -> str:
    if path.endswith("/inbox"):
        return "inbox"
    return _FAMILIES.get(path.split("/", 2)[1] if path.count("/") else "", "page")


_DELIVERY_OUTCOMES = frozenset({"delivered", "retry", "dead", "gone", "aside"})
_KEY_OUTCOMES = frozenset({"fetched", "failed", "refused"})
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics(Telemetry):
    """The process's metrics. In multiprocess mode the values live in the shared
    directory; ``registry`` then only serves single-process scrapes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        # per (family, status): [requests, seconds, then requests per latency bucket]
        self._pending: dict[tuple[str, int], list[float]] = {}
        self._flush_at: asyncio.TimerHandle | None = None
        self._inbox_children: dict[str, Counter] = {}
        r = self.registry
        self.requests = Counter(
            "fedi_forum_http_requests", "HTTP requests answered", ["family", "status"], registry=r
        )
        self.latency = Histogram(
            "fedi_forum_http_request_seconds",
            "Time to answer, by route family",
            ["family"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inbox = Counter(
            "fedi_forum_inbox_activities",
            "Activities received, by outcome",
            ["outcome"],
            registry=r,
        )
        # read from the database at scrape time (the same figures whichever worker answers)
        self.deliveries = Gauge(
            "fedi_forum_deliveries",
            "Delivery rows by state",
            ["state"],
            registry=r,
            multiprocess_mode="max",
        )
        self.oldest_pending = Gauge(
            "fedi_forum_delivery_oldest_pending_seconds",
            "Age of the oldest pending delivery",
            registry=r,
            multiprocess_mode="max",
        )
        self.host_failures = Gauge(
            "fedi_forum_delivery_host_failures",
            f"Failures in a row of the {TOP_HOSTS} worst servers (the rest: other)",
            ["host"],
            registry=r,
            multiprocess_mode="max",
        )
        self.attempts = Counter(
            "fedi_forum_delivery_attempts", "Delivery attempts by outcome", ["outcome"], registry=r
        )
        self.key_fetches = Counter(
            "fedi_forum_key_fetches", "Public keys fetched, by outcome", ["outcome"], registry=r
        )
        self.admission = Histogram(
            "fedi_forum_admission_wait_seconds",
            "Time a request waited for an admission slot (only those that had to)",
            ["admitted"],
            buckets=_SECONDS,
            registry=r,
        )
        self.batch_size = Histogram(
            "fedi_forum_db_write_batch_size",
            "Writes per group commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.commit = Histogram(
            "fedi_forum_db_commit_seconds", "Time of one group commit", buckets=_SECONDS, registry=r
        )
        self.info = Gauge(
            "fedi_forum_build_info",
            "Version of this fedi-forum",
            ["version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.info.labels(__version__).set(1)
        # one sample per worker process (multiprocess mode labels it with the pid)
        self.up = Gauge(
            "fedi_forum_process_up", "1 per serving process", registry=r, multiprocess_mode="all"
        )
        self.up.set(1)

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Once per request (GuardMiddleware): counted here in plain numbers, added to
        the figures by ``flush`` at most ``FLUSH_EVERY`` later. A request's three
        increments of locked, memory-mapped values took ~10 µs of the guard's ~20
        (measured in-process); a flush does them once per label set."""
        key = (route_family(path), status)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = [0.0] * (2 + len(LATENCY_BUCKETS) + 1)
        pending[0] += 1
        pending[1] += seconds
        pending[2 + bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: at most
        if self._flush_at is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a command): at once
                self.flush()
                return
            self._flush_at = loop.call_later(FLUSH_EVERY, self.flush)

    def flush(self) -> None:
        """Add what ``observe`` counted to the figures (before a scrape, at shutdown)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        pending, self._pending = self._pending, {}
        for (family, status), counts in pending.items():
            requests, latency = self._children_of(family, status)
            requests.inc(counts[0])
            # Histogram.observe adds one observation; these are many. Its per-bucket and
            # sum values are prometheus-client's own attributes (tests/unit/
            # test_metrics_batching.py fails if they change).
            latency._sum.inc(counts[1])
            for bucket, n in zip(latency._buckets, counts[2:], strict=True):
                if n:
                    bucket.inc(n)

    def _children_of(self, family: str, status: int) -> tuple[Counter, Histogram]:
        """The labelled children, looked up once and kept (labels() validates)."""
        key = (family, status)
        children = self._children.get(key)
        if children is None:
            code = str(status)
            children = self._children[key] = (
                self.requests.labels(family, code if code in STATUSES else "other"),
                self.latency.labels(family),
            )
        return children

    # -- telemetry.Telemetry --------------------------------------------------------------

    def write_batch(self, writes: int, seconds: float) -> None:
        self.batch_size.observe(writes)
        self.commit.observe(seconds)

    def key_fetch(self, outcome: str) -> None:
        self.key_fetches.labels(outcome if outcome in _KEY_OUTCOMES else "other").inc()

    def delivery(self, outcome: str) -> None:
        self.attempts.labels(outcome if outcome in _DELIVERY_OUTCOMES else "other").inc()

    def admission_wait(self, seconds: float, admitted: bool) -> None:
        self.admission.labels("yes" if admitted else "no").observe(seconds)

    def inbox_outcome(self, result: str) -> None:
        word = result.split(":", 1)[0].split(" ", 1)[0]
        self._inbox_child(word if word in OUTCOMES else "other").inc()

    def inbox_refused(self, status: int) -> None:
        code = str(status)
        self._inbox_child(f"refused_{code}" if code in STATUSES else "refused_other").inc()

    def _inbox_child(self, outcome: str) -> Counter:
        """The counter of one outcome (a closed set), looked up once: ``labels()``
        takes a lock and builds its key on every call (3 µs of a refused request's
        ~165 µs, bench/inbox_cost.py --rejected)."""
        child = self._inbox_children.get(outcome)
        if child is None:
            child = self._inbox_children[outcome] = self.inbox.labels(outcome)
        return child


def allowed(request: Request, allow: str, token: str) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    client = client_address(request)
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    for entry in filter(None, (e.strip() for e in allow.split(","))):
        if address in ipaddress.ip_network(entry, strict=False):
            return True
    return False


async def metrics(request: Request) -> Response:
    svc = services(request)
    if not allowed(request, svc.settings.metrics_allow, svc.settings.metrics_token):
        raise NotFound("metrics not for this client")
    svc.metrics.flush()  # this process's requests so far (others': at most FLUSH_EVERY ago)
    report = await svc.store.delivery_report()
    for state in ("pending", "delivered", "dead", "aside"):
        svc.metrics.deliveries.labels(state).set(report["states"].get(state, 0))
    worst, rest = await svc.store.host_failures(TOP_HOSTS)
    svc.metrics.host_failures.clear()  # a server that recovered drops out
    for host, failures in worst:
        svc.metrics.host_failures.labels(host).set(failures)
    svc.metrics.host_failures.labels("other").set(rest)
    oldest = report["oldest_pending"]
    age = (datetime.now(UTC) - parse_time(oldest)).total_seconds() if oldest else 0.0
    svc.metrics.oldest_pending.set(max(0.0, age))
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(svc.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
