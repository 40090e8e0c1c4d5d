"""Bench G4, G5, G3-mixed: the reads that follow an Announce, and reads under writes.

Seeds a discussion with N replies (and the group's Announce of each in its outbox),
starts the real `fedi-forum serve` with 2 workers and, in the same run, a hello-JSON
app (the ceiling for G5). Per run:

* G4: outbox and context pages (AS2, random keyset cursors), wrk c16;
* G5: the group actor, its WebFinger and its opening note (AS2), a third each, wrk c64,
  against hello-JSON on the same uvicorn settings; and a burst of 600 GETs spread over
  one second (open loop), p99;
* G3-mixed: wrk on HTML pages (random keyset; every page rendered once in each
  process first, as G3) while a second wrk sends signed replies to the inbox at about
  half the G1 rate (16 connections, each pausing between requests); read p99 and inbox
  p99.

    .venv/bin/python bench/reads.py [--runs 3] [--seconds 8] [--replies 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from _harness import (
    RESULTS,
    ceiling_server,
    ensure_wrk,
    free_port,
    parse_wrk,
    process,
    run_wrk,
    save,
    server,
)
from _seed import forum
from _signed import LUA, Plan, p99, sign, write_load
from html_page import seed as seed_page
from inbox import ACTORS, KEYS
from inbox import seed as seed_inbox

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings

PAGE = 50
INBOX_CONNECTIONS = 16
HELLO_APP = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
import orjson
BODY = orjson.dumps({"hello": "world"})
async def hello(request):
    return Response(BODY, media_type="application/activity+json")
app = Starlette(routes=[Route("/hello", hello)])
"""


async def seed_outbox(settings: Settings, slug: str) -> None:
    """The group's Announce of every reply, as the inbox would have written it."""
    async with forum(settings) as discussions:
        store = discussions.store
        d = await store.discussion(slug)
        assert d is not None
        rows = await store.context_page(d.id, 0, 100_000)
        group = f"{settings.base_url}/d/{slug}"
        await asyncio.gather(
            *(
                store.append_outbox(
                    d.id,
                    activity_id=f"{group}/m/{seq}/announce",
                    type_="Announce",
                    object_id=ap_id,
                    payload=json.dumps(
                        {
                            "id": f"{group}/m/{seq}/announce",
                            "type": "Announce",
                            "actor": group,
                            "object": ap_id,
                            "to": ["https://www.w3.org/ns/activitystreams#Public"],
                            "cc": [f"{group}/followers"],
                        }
                    ),
                    published="2026-11-28T10:00:00Z",
                )
                for seq, ap_id in rows
            )
        )


def lua_random(paths: list[str], accept: str) -> str:
    """A wrk script picking one of ``paths`` at random per request."""
    items = ",".join(json.dumps(p) for p in paths)
    return (
        "math.randomseed(os.time())\n"
        f"local paths = {{{items}}}\n"
        "request = function()\n"
        "  local p = paths[math.random(1, #paths)]\n"
        f'  return wrk.format("GET", p, {{["Accept"]="{accept}"}})\n'
        "end\n"
    )


async def burst(url: str, count: int, over: float) -> list[float]:
    """``count`` GETs spread evenly over ``over`` seconds (open loop); latencies, ms."""
    latencies: list[float] = []
    headers = {"Accept": "application/activity+json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=count)) as session:

        async def one(delay: float) -> None:
            await asyncio.sleep(delay)
            t0 = time.perf_counter()
            async with session.get(url, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(one(i * over / count) for i in range(count)))
    return latencies


def g1_rate() -> float:
    """G1 of the latest 2-worker inbox bench, if any (else a conservative 1,000/s)."""
    for path in sorted(RESULTS.glob("inbox-*.json"), reverse=True):
        found = json.loads(path.read_text())
        if found.get("workers") == 2:
            return float(found["accepted_per_s_median"])
    return 1000.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--replies", type=int, default=5000)
    args = parser.parse_args()
    wrk = ensure_wrk()
    if wrk is None:
        sys.exit("this benchmark needs wrk (apt-get install wrk)")
    half_rate = g1_rate() / 2
    with tempfile.TemporaryDirectory(prefix="ff-reads-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(base_url=base, data_dir=tmp / "data", keys_dir=tmp / "keys")
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        asyncio.run(seed_inbox(settings, pems))  # b0..b9 and 200 known actors
        asyncio.run(seed_page(settings, args.replies))  # "bench" with N replies
        asyncio.run(seed_outbox(settings, "bench"))
        plan = Plan(base=base, pems=pems, actors=ACTORS, discussions=10, tag="mixed")
        inbox_load = sign(plan, 0, int(half_rate * 1.5 * args.seconds * args.runs) + 100)
        inbox_file = write_load(tmp / "inbox.bin", inbox_load)
        # each connection pauses so that together they send about half_rate per second
        pause = max(0, int(1000 * INBOX_CONNECTIONS / half_rate) - 2)
        (tmp / "inbox.lua").write_text(LUA + f"delay = function() return {pause} end\n")
        (tmp / "hello_app.py").write_text(HELLO_APP)
        last_after = ((args.replies - 1) // PAGE) * PAGE
        outbox_ids = range(1, args.replies + 1)
        ap_paths = [f"/d/bench/outbox?page=true&max_id={i}" for i in outbox_ids[20::97]]
        ap_paths += [f"/d/bench/context?page=true&min_id={i}" for i in range(0, args.replies, 97)]
        scripts = {
            "g4": lua_random(ap_paths, "application/activity+json"),
            "g5": lua_random(
                [
                    "/d/bench",
                    f"/.well-known/webfinger?resource=acct:bench@127.0.0.1:{port}",
                    "/d/bench/m/0",
                ],
                "application/activity+json",
            ),
            "hello": lua_random(["/hello"], "application/activity+json"),
            "g3": lua_random(
                [f"/d/bench?after={a}" for a in range(0, last_after + 1, PAGE)] + ["/d/bench"] * 10,
                "text/html",
            ),
            "actor": lua_random(["/d/bench"], "application/activity+json"),
        }
        for name, text in scripts.items():
            (tmp / f"{name}.lua").write_text(text)
        runs = []
        latency = []  # G3-mixed's distributions, per run (the charts')
        for run in range(args.runs):
            row: dict[str, float] = {}
            with process(ceiling_server("hello_app:app", port, 2), port, cwd=tmp):
                hello = run_wrk(wrk, base, tmp / "hello.lua", 64, args.seconds)
            row["hello_rps"] = hello["rps"]
            with server(settings.data_dir, settings.keys_dir, port, 2) as _:
                g4 = run_wrk(wrk, base, tmp / "g4.lua", 16, args.seconds)
                g5 = run_wrk(wrk, base, tmp / "g5.lua", 64, args.seconds)
                lat = asyncio.run(burst(f"{base}/d/bench", 600, 1.0))
                row |= {
                    "g4_rps": g4["rps"],
                    "g4_p99_ms": g4["p99_ms"],
                    "g4_errors": g4["non_2xx"],
                    "g5_rps": g5["rps"],
                    "g5_p99_ms": g5["p99_ms"],
                    "g5_errors": g5["non_2xx"],
                    "burst_p99_ms": p99(lat),
                }
                # G3-mixed: pages + actor GETs while the inbox runs at about half the G1
                # rate: a second wrk replays signed replies with a pause per connection.
                # Steady state, as G3 (html_page.py): every page rendered once in each
                # process first. Without it this row measured the cold first render of
                # 40 pages of 50 messages in each process (~20-40 ms of Jinja each on the
                # loop, py-spy: 38% of the loop's time), more or less of it falling in
                # the window: the spread of its p99 between runs.
                run_wrk(wrk, base, tmp / "g3.lua", 16, 2)
                inbox_run = subprocess.Popen(
                    [
                        wrk,
                        "-t1",
                        f"-c{INBOX_CONNECTIONS}",
                        f"-d{args.seconds}s",
                        "--latency",
                        "-s",
                        str(tmp / "inbox.lua"),
                        base,
                        "--",
                        str(inbox_file),
                        str(run * len(inbox_load) // args.runs),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                pages = run_wrk(wrk, base, tmp / "g3.lua", 16, args.seconds)
                inbox_out, _ = inbox_run.communicate(timeout=args.seconds + 60)
                inbox = parse_wrk(inbox_out)
                row |= {
                    "g3mixed_rps": pages["rps"],
                    "g3mixed_read_p99_ms": pages["p99_ms"],
                    "g3mixed_inbox_p99_ms": inbox["p99_ms"],
                    "g3mixed_inbox_rate": inbox["rps"],
                    "g3mixed_target_rate": half_rate,
                }
                latency.append({"read": pages["latency_ms"], "inbox": inbox["latency_ms"]})
            row["g5_ratio"] = row["g5_rps"] / row["hello_rps"]
            runs.append(row)
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}
    result["g3mixed_latency_ms"] = latency
    result["min"] = {k: min(r[k] for r in runs) for k in runs[0]}
    result["max"] = {k: max(r[k] for r in runs) for k in runs[0]}
    path = save("reads", result)
    print(
        f"reads, {args.replies}-reply discussion, 2 workers, {args.seconds}s x {args.runs}; "
        "median [min-max]"
    )
    for key, label in (
        ("g4_rps", "G4 outbox/context pages/s (c16)"),
        ("g5_rps", "G5 actor/WebFinger/note GETs/s (c64)"),
        ("hello_rps", "hello-JSON ceiling/s (c64)"),
        ("burst_p99_ms", "G5 burst 600 GETs in 1 s, p99 ms"),
        ("g3mixed_read_p99_ms", "G3-mixed read p99 ms"),
        ("g3mixed_inbox_p99_ms", "G3-mixed inbox p99 ms"),
    ):
        print(
            f"  {label:>38}: {result[key]:9.1f} [{result['min'][key]:.1f}-{result['max'][key]:.1f}]"
        )
    print(
        f"  G5 / hello = {result['g5_ratio']:.0%}; G3-mixed: pages {result['g3mixed_rps']:.0f}/s "
        f"beside {result['g3mixed_inbox_rate']:.0f} replies/s "
        f"(target {result['g3mixed_target_rate']:.0f}/s)"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
