"""Rate limits and load shedding, without sleeping."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from fedi_forum.errors import RateLimited
from fedi_forum.store import Store
from fedi_forum.store.engine import Engine
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


async def test_form_limits_slide_and_are_one_budget_for_every_process(db: Engine) -> None:
    """Two limiters on one database (two processes, or two hosts on PostgreSQL) spend
    one budget; the previous window counts in proportion to its overlap; the client's
    address is not what the database holds."""
    clock = Clock()
    clock.now = 6000.0  # the start of a window (slot 100)
    store = Store(db)
    host_a, host_b = (
        RateLimiter(store, "login", limit=4, window=60, secret=b"s" * 32, clock=clock)
        for _ in range(2)
    )
    for limiter in (host_a, host_b, host_a, host_b):
        await limiter.hit("192.0.2.7")
    with pytest.raises(RateLimited) as caught:
        await host_b.hit("192.0.2.7")
    assert 1 <= caught.value.retry_after <= 120
    await host_a.hit("192.0.2.8")  # another client has its own budget
    other_form = RateLimiter(store, "report", limit=4, window=60, secret=b"s" * 32, clock=clock)
    await other_form.hit("192.0.2.7")  # and so has another form
    # 45 s into the next window, 5 hits x 25% = 1.25 still count: two more fit, not three
    clock.now = 6105.0
    await host_a.hit("192.0.2.7")
    await host_b.hit("192.0.2.7")
    with pytest.raises(RateLimited):
        await host_a.hit("192.0.2.7")
    clock.now = 6240.0  # two windows on: all forgotten, and the old rows are gone
    await host_b.hit("192.0.2.7")
    rows = await db.fetch_all("SELECT scope, client, slot, hits FROM rate_windows")
    assert ("login", 104) in {(r[0], r[2]) for r in rows}
    assert all(r[2] >= 103 for r in rows if r[0] == "login")
    assert all("192.0.2" not in r[1] for r in rows)


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
