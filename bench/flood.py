"""Bench G6-keys: a flood of signers we have never seen, whose key servers answer only
after 6 s, beside known actors' replies and page views (security issue #11, item 9).

The real `fedi-forum serve --allow-loopback` (1 process, the default 128 admission
slots, inbox only) gets, per run:

* A (control): known actors' replies on 16 connections and discussion pages on 8, timed
  one by one;
* B: the same, while 140 connections keep sending replies from new actors (a new keyId
  each time) whose key server answers after 6 s.

Goal: pages and known replies keep being answered during B (no 503, p99 within a few
times the control), because requests waiting on an unknown key give their admission
slot back and wait in their own bounded line (docs: FEDERATION.md, "Moderation, as
federated"). Before that change, 140 such requests took the 128 slots for 6 s at a time.

    .venv/bin/python bench/flood.py [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from _harness import free_port, save, server
from _signed import Plan, Signed, p99, sign, timed_posts
from inbox import ACTORS, DISCUSSIONS, KEYS, seed

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings

KEY_DELAY = 6.0
FLOOD = 140


async def slow_key_server(port: int) -> web.AppRunner:
    async def actor(_request: web.Request) -> web.Response:
        await asyncio.sleep(KEY_DELAY)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{rest:.*}", actor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def timed_pages(base: str, connections: int, seconds: float) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession, n: int) -> None:
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            async with session.get(
                f"{base}/d/b{n % DISCUSSIONS}", headers={"Accept": "text/html"}
            ) as r:
                await r.read()
            out.append(((time.perf_counter() - t) * 1000, r.status))
            n += connections

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, i) for i in range(connections)))
    return out


async def flood(base: str, requests: list[Signed], seconds: float) -> list[int]:
    statuses: list[int] = []
    deadline = time.perf_counter() + seconds
    queue = itertools.cycle(requests)  # past the per-host line, 503s come back at once
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            path, headers, body = next(queue)
            async with session.post(f"{base}{path}", data=body, headers=headers) as r:
                await r.read()
            statuses.append(r.status)

    connector = aiohttp.TCPConnector(limit=FLOOD)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(FLOOD)))
    return statuses


async def one_run(
    base: str, known: list[Signed], strangers: list[Signed], key_port: int, seconds: float
) -> dict[str, float]:
    runner = await slow_key_server(key_port)
    try:
        half = len(known) // 2
        alone, pages_alone = await asyncio.gather(
            timed_posts(base, known[:half], 16, seconds), timed_pages(base, 8, seconds)
        )
        flooded, pages_flooded, flood_statuses = await asyncio.gather(
            timed_posts(base, known[half:], 16, seconds),
            timed_pages(base, 8, seconds),
            flood(base, strangers, seconds),
        )
    finally:
        await runner.cleanup()
    return {
        "known_p99_alone_ms": p99([ms for ms, _ in alone]),
        "known_p99_flood_ms": p99([ms for ms, _ in flooded]),
        "page_p99_alone_ms": p99([ms for ms, _ in pages_alone]),
        "page_p99_flood_ms": p99([ms for ms, _ in pages_flooded]),
        "known_rate_alone": len(alone) / seconds,
        "known_rate_flood": len(flooded) / seconds,
        "known_refused_flood": sum(1 for _, st in flooded if st != 202),
        "pages_refused_flood": sum(1 for _, st in pages_flooded if st != 200),
        "flood_answered": len(flood_statuses),
        "flood_503": sum(1 for st in flood_statuses if st == 503),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-flood-") as tmp_name:
        tmp = Path(tmp_name)
        port, key_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        template = Settings(
            base_url=base, data_dir=tmp / "template" / "data", keys_dir=tmp / "template" / "keys"
        )
        asyncio.run(seed(template, pems))
        known_plan = Plan(base=base, pems=pems, actors=ACTORS, discussions=DISCUSSIONS)
        runs = []
        for run in range(args.runs):
            count = int(FLOOD * (args.seconds / KEY_DELAY + 2))
            stranger_plan = Plan(
                base=base,
                pems=pems,
                actors=count,
                discussions=DISCUSSIONS,
                origin=f"http://127.0.0.1:{key_port}",
                actor_prefix=f"z{run}x",
            )
            known = sign(known_plan, run * 40_000, 30_000)
            strangers = sign(stranger_plan, run * 10_000, count)
            copy = tmp / f"run{run}"
            shutil.copytree(tmp / "template", copy)
            with server(
                copy / "data",
                copy / "keys",
                port,
                1,
                "--no-worker",
                "--allow-loopback",
                env={"FEDI_FORUM_MAX_IN_FLIGHT": "128"},
            ):
                runs.append(asyncio.run(one_run(base, known, strangers, key_port, args.seconds)))
            shutil.rmtree(copy)
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}
    path = save("flood", result)
    print(
        f"G6-keys: {FLOOD} connections of unknown signers, keys {KEY_DELAY:.0f} s away, "
        f"median of {args.runs}"
    )
    print(
        f"  known replies p99: {result['known_p99_alone_ms']:.1f} ms alone, "
        f"{result['known_p99_flood_ms']:.1f} ms in the flood; refused in the flood: "
        f"{result['known_refused_flood']:.0f}; {result['known_rate_alone']:.0f}/s vs "
        f"{result['known_rate_flood']:.0f}/s"
    )
    print(
        f"  pages p99: {result['page_p99_alone_ms']:.1f} ms alone, "
        f"{result['page_p99_flood_ms']:.1f} ms in the flood; refused: "
        f"{result['pages_refused_flood']:.0f}"
    )
    print(f"  flood: {result['flood_answered']:.0f} answered, {result['flood_503']:.0f} with 503")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
