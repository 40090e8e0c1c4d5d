"""Request counts and times are batched (web/metrics.py, ``Metrics.observe``): what a
scrape shows after a flush is exactly what one ``Histogram.observe`` per request would
have shown — the batch writes prometheus-client's own per-bucket values, so a change of
those attributes in a new prometheus-client fails here, not silently in production."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from fedi_forum.web import metrics as metrics_module
from fedi_forum.web.metrics import LATENCY_BUCKETS, Metrics

# every bucket, its exact bounds (le: at most), below the first and past the last
TIMES = [0.0, 0.0004, 0.001, 0.0010001, 0.003, 0.01, 0.2, 0.25, 0.7, 1.0, 4.0, 10.0, 11.0, 99.0]


def _lines(registry: CollectorRegistry, prefix: str) -> list[str]:
    return sorted(
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith(prefix) and "_created" not in line  # creation times differ
    )


def _direct() -> CollectorRegistry:
    """What one observe per request gives: the figures to match."""
    registry = CollectorRegistry()
    requests = Counter("fedi_forum_http_requests", "", ["family", "status"], registry=registry)
    latency = Histogram(
        "fedi_forum_http_request_seconds",
        "",
        ["family"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for n, seconds in enumerate(TIMES):
        status = "200" if n % 3 else "404"
        requests.labels("discussion", status).inc()
        latency.labels("discussion").observe(seconds)
    requests.labels("health", "200").inc()
    latency.labels("health").observe(0.0002)
    return registry


def test_a_flush_shows_what_one_observe_per_request_would() -> None:
    metrics = Metrics()

    async def requests() -> None:  # in a loop: counted, not yet added
        for n, seconds in enumerate(TIMES):
            metrics.observe("/d/park", 200 if n % 3 else 404, seconds)
        metrics.observe("/healthz", 200, 0.0002)
        assert not _lines(metrics.registry, "fedi_forum_http_request")
        metrics.flush()

    asyncio.run(requests())
    expected = _direct()
    for prefix in ("fedi_forum_http_requests", "fedi_forum_http_request_seconds"):
        assert _lines(metrics.registry, prefix) == _lines(expected, prefix)


def test_counts_reach_the_figures_on_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """No scrape, no shutdown: the timer adds them (another worker's scrape reads them)."""
    monkeypatch.setattr(metrics_module, "FLUSH_EVERY", 0.01)
    metrics = Metrics()
    key = 'fedi_forum_http_requests_total{family="discussion",status="200"}'

    async def requests() -> list[str]:
        metrics.observe("/d/park", 200, 0.001)
        metrics.observe("/d/park", 200, 0.002)
        await asyncio.sleep(0.1)
        return _lines(metrics.registry, "fedi_forum_http_requests")

    assert f"{key} 2.0" in asyncio.run(requests())


def test_without_an_event_loop_a_count_is_added_at_once() -> None:
    metrics = Metrics()
    metrics.observe("/d/park", 200, 0.001)
    lines = _lines(metrics.registry, "fedi_forum_http_requests")
    assert 'fedi_forum_http_requests_total{family="discussion",status="200"} 1.0' in lines
