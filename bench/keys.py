"""Bench G1-key: 1,000 actors we have never seen, whose keys live on a server 100 ms
away, arrive while known actors keep replying.

A key server on 127.0.0.1 serves the new actors' documents after 100 ms and counts
fetches. The real `fedi-forum serve --allow-loopback` (inbox only) gets, per run:

* A (control): known actors on 16 connections, a Python client timing each request,
  while 32 more connections send replies of other known actors (warm keys);
* B: the same 16 connections, while the 32 connections send 3 replies from each of
  the 1,000 new actors (cold keys, fetched at 100 ms).

Goal: each new key fetched exactly once (single-flight, cache), every new actor's
replies accepted, and the known actors' p99 in B within +-20% of A (no inbox worker is
blocked behind a key fetch).

    .venv/bin/python bench/keys.py [--runs 3] [--new 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from _harness import free_port, save, server
from _signed import Plan, p99, sign, timed_posts
from inbox import ACTORS, DISCUSSIONS, KEYS, seed

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings

LATENCY = 0.1


async def key_server(
    port: int, pems: list[bytes], fetches: collections.Counter[str]
) -> web.AppRunner:
    publics = [keys.public_pem(keys.load_private_pem(p)) for p in pems]
    base = f"http://127.0.0.1:{port}"

    async def actor(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        fetches[name] += 1
        await asyncio.sleep(LATENCY)
        actor_id = f"{base}/users/{name}"
        doc = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_id,
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{actor_id}/inbox",
            "endpoints": {"sharedInbox": f"{base}/inbox"},
            "publicKey": {
                "id": f"{actor_id}#main-key",
                "owner": actor_id,
                "publicKeyPem": publics[int(name[1:]) % len(publics)],
            },
        }
        return web.json_response(doc, content_type="application/activity+json")

    app = web.Application()
    app.router.add_get("/users/{name}", actor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def one_run(
    base: str, known: list, new: list, key_port: int, pems: list[bytes], seconds: float
) -> dict[str, float]:
    fetches: collections.Counter[str] = collections.Counter()
    runner = await key_server(key_port, pems, fetches)
    try:
        q = len(known) // 4
        solo = await timed_posts(base, known[3 * q :], 16, seconds / 2)
        alone, _ = await asyncio.gather(
            timed_posts(base, known[:q], 16, seconds),
            timed_posts(base, known[q : 2 * q], 32, seconds),
        )
        t0 = time.perf_counter()
        mixed, fresh = await asyncio.gather(
            timed_posts(base, known[2 * q : 3 * q], 16, seconds),
            timed_posts(base, new, 32, 120),
        )
        new_done = time.perf_counter() - t0
    finally:
        await runner.cleanup()
    return {
        "known_p99_solo_ms": p99([ms for ms, _ in solo]),
        "known_p99_alone_ms": p99([ms for ms, _ in alone]),
        "known_p99_mixed_ms": p99([ms for ms, _ in mixed]),
        "known_rate_alone": len(alone) / seconds,
        "known_rate_mixed": len(mixed) / seconds,
        "new_accepted": sum(1 for _, st in fresh if st == 202),
        "new_sent": len(fresh),
        "new_seconds": new_done,
        "new_actors_fetched": len(fetches),
        "max_fetches_per_actor": max(fetches.values(), default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-keys-") as tmp_name:
        tmp = Path(tmp_name)
        port, key_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        template = Settings(
            base_url=base, data_dir=tmp / "template" / "data", keys_dir=tmp / "template" / "keys"
        )
        asyncio.run(seed(template, pems))
        known_plan = Plan(base=base, pems=pems, actors=ACTORS, discussions=DISCUSSIONS)
        new_plan = Plan(
            base=base,
            pems=pems,
            actors=args.new,
            discussions=DISCUSSIONS,
            origin=f"http://127.0.0.1:{key_port}",
            actor_prefix="k",
        )
        runs = []
        for run in range(args.runs):
            known = sign(known_plan, run * 40_000, 28_000)
            # every new actor's first reply first (the cold keys), then their next two
            new = sign(new_plan, run * 10_000, args.new * 3)
            copy = tmp / f"run{run}"
            shutil.copytree(tmp / "template", copy)
            with server(copy / "data", copy / "keys", port, 1, "--no-worker", "--allow-loopback"):
                runs.append(asyncio.run(one_run(base, known, new, key_port, pems, args.seconds)))
            shutil.rmtree(copy)
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": runs}
    result["p99_change"] = result["known_p99_mixed_ms"] / result["known_p99_alone_ms"] - 1
    path = save("keys", result)
    print(
        f"G1-key: {args.new} new actors, keys {LATENCY * 1000:.0f} ms away, median of {args.runs}"
    )
    print(
        f"  new actors' replies accepted: {result['new_accepted']:.0f} of "
        f"{result['new_sent']:.0f} in {result['new_seconds']:.1f} s; keys fetched: "
        f"{result['new_actors_fetched']:.0f}, at most {result['max_fetches_per_actor']:.0f} "
        f"per actor"
    )
    print(
        f"  known actors' p99: {result['known_p99_solo_ms']:.1f} ms alone, "
        f"{result['known_p99_alone_ms']:.1f} ms beside warm-key load, "
        f"{result['known_p99_mixed_ms']:.1f} ms beside the new actors "
        f"({result['p99_change']:+.0%}); "
        f"{result['known_rate_alone']:.0f}/s vs {result['known_rate_mixed']:.0f}/s"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
