"""Rate limits and load shedding, without sleeping."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from fedi_forum.errors import RateLimited
from fedi_forum.web.guard import GuardMiddleware
from fedi_forum.web.ratelimit import RateLimiter, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=5, clock=clock)
    for _ in range(5):
        buckets.take("a")
    with pytest.raises(RateLimited) as caught:
        buckets.take("a")
    assert caught.value.retry_after >= 1
    buckets.take("b")  # others are not affected
    clock.now += 1.0  # two more tokens
    buckets.take("a")
    buckets.take("a")
    with pytest.raises(RateLimited):
        buckets.take("a")
    TokenBuckets(rate=0, burst=0).take("x")  # disabled


def test_form_limiter_window() -> None:
    clock = Clock()
    limiter = RateLimiter(limit=2, window=60, clock=clock)
    limiter.hit("1.2.3.4")
    limiter.hit("1.2.3.4")
    with pytest.raises(RateLimited) as caught:
        limiter.hit("1.2.3.4")
    assert 0 < caught.value.retry_after <= 61
    clock.now += 61
    limiter.hit("1.2.3.4")


async def test_overload_waits_briefly_then_is_shed_with_503() -> None:
    release = asyncio.Event()

    async def slow_app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = GuardMiddleware(slow_app, max_in_flight=2, admission_wait=0.1)
    transport = httpx.ASGITransport(app=guard)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        busy = [asyncio.create_task(client.get("/")) for _ in range(2)]
        await asyncio.sleep(0.05)
        shed = await client.get("/")
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "5"
        assert guard.in_flight == 2
        # one more waits for a slot, and gets it when one frees within the wait
        waiting = asyncio.create_task(client.get("/"))
        await asyncio.sleep(0.02)
        release.set()
        assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]
        assert (await waiting).status_code == 200
        assert (await client.get("/")).status_code == 200  # capacity is back
    assert guard.in_flight == 0


async def test_admission_reports_only_the_waits() -> None:
    """Admission tells the metrics how long a request waited for a slot, and whether it
    got one; a free slot is not a wait."""
    import asyncio

    from fedi_forum.web.admission import Admission

    waits: list[tuple[float, bool]] = []
    slots = asyncio.Semaphore(1)
    first = Admission(slots, 0.05, lambda s, ok: waits.append((s, ok)))
    assert await first.acquire()
    assert waits == []
    second = Admission(slots, 0.05, lambda s, ok: waits.append((s, ok)))
    assert not await second.acquire()  # nothing came free in time
    assert len(waits) == 1
    assert waits[0][1] is False
    assert waits[0][0] >= 0.04
    asyncio.get_running_loop().call_later(0.01, first.release)
    third = Admission(slots, 1.0, lambda s, ok: waits.append((s, ok)))
    assert await third.acquire()
    assert waits[-1][1] is True
