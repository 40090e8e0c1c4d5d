"""Bench: does each operation cost the same on a small and a large forum (issue #13)?

For each engine, two instances: small (10 discussions; the measured one has 100 notes,
100 delivered deliveries) and large (10,000 discussions; 100,000 notes in the measured
one, their Announces in its outbox, 100,000 delivered deliveries). On each, one
`serve --no-worker` and one client, one request at a time, 200 rounds of:

* inbox reply: a signed Create{Note} into the measured discussion (it changes the
  discussion's revision, so the next reads render instead of hitting the page cache);
* page render: the HTML page at one of 20 random keyset positions (each rendered once
  before, so both sizes have their messages in the render cache);
* outbox page: the AS2 outbox page at a random keyset position;

and, in the bench's own process on the same database, 200 claims of one delivery from
a queue of 200 due rows. Median milliseconds per operation; the large/small ratio
should stay near 1 (indexes and keyset pagination: no cost grows with the size).

    .venv/bin/python bench/growth.py [--notes 100000] [--discussions 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from _engine import ENGINES, Home, home
from _harness import free_port, save
from _seed import forum, seeding, signed_reply
from html_page import seed as seed_page
from reads import seed_outbox

from fedi_forum.activitypub import keys
from fedi_forum.models import utcnow
from fedi_forum.store.deliveries import Claim
from fedi_forum.store.primitives import Outgoing, enqueue

ROUNDS = 200
PAGE = 50
POSITIONS = 20


async def seed(h: Home, notes: int, discussions: int, author_pem: str) -> None:
    s = h.settings
    one_key = keys.generate_private_key()
    keys.generate_private_key = lambda: one_key  # type: ignore[assignment]  # bench seeding only
    await seed_page(s, notes)  # discussion "bench" with its notes
    await seed_outbox(s, "bench")
    async with seeding(s, author_pem) as forum_:
        for start in range(1, discussions, 500):
            await asyncio.gather(
                *(
                    forum_.create(slug=f"d{i}", title=f"D {i}", body="b", lang="nl")
                    for i in range(start, min(start + 500, discussions))
                )
            )
        store = forum_.store
        d = await store.discussion("bench")
        assert d is not None
        for start in range(0, notes, 2000):  # a history of delivered deliveries
            now = utcnow()

            def write(conn: Any, start: int = start, now: str = now) -> None:
                for i in range(start, min(start + 2000, notes)):
                    out = Outgoing(f"{s.base_url}/x/{i}", "{}", f"{s.base_url}/d/bench")
                    enqueue(conn, out, f"https://h{i % 500}.example/inbox", now)
                conn.execute("UPDATE deliveries SET state = 'delivered' WHERE state = 'pending'")

            await store.db.write(write)


async def claims(h: Home) -> list[float]:
    """Milliseconds of each of ROUNDS claims of one delivery from ROUNDS due rows."""
    async with forum(h.settings) as forum_:
        store = forum_.store
        now = utcnow()

        def write(conn: Any) -> None:
            for i in range(ROUNDS):
                out = Outgoing(f"{h.settings.base_url}/due/{i}", "{}", "s")
                enqueue(conn, out, f"https://due{i}.example/inbox", now)

        await store.db.write(write)
        taken = []
        for n in range(ROUNDS):
            claim = Claim(
                now=utcnow(),
                lease_until="9999",
                owner="bench",
                limit=1,
                per_host=1,
                start=1,
                room={},
                probe_before=now,
            )
            t0 = time.perf_counter()
            rows = await store.claim_deliveries(claim)
            taken.append((time.perf_counter() - t0) * 1000)
            assert len(rows) == 1, n
        return taken


async def requests(base: str, key: Any, notes: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"inbox": [], "page": [], "outbox": []}
    rng = random.Random(7)
    # The same number of page positions on both sizes, each rendered once before the
    # rounds: every message is then in the render cache on both, and a round measures
    # the page's reads and assembly (the inbox POST before it changes the revision, so
    # the page itself is never served from the page cache). Without this the small
    # forum's two pages were all cached messages and the large one's all cold.
    afters = [rng.randrange(0, max(1, notes - PAGE)) // PAGE * PAGE for _ in range(POSITIONS)]
    async with aiohttp.ClientSession() as session:
        for after in afters:
            async with session.get(f"{base}/d/bench?after={after}") as r:
                await r.read()
        for n in range(ROUNDS):
            url, body, headers = signed_reply(base, key, n, "bench")
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                assert r.status == 202, await r.text()
            out["inbox"].append((time.perf_counter() - t0) * 1000)
            after = afters[n % POSITIONS]
            for name, path, accept in (
                ("page", f"/d/bench?after={after}", "text/html"),
                (
                    "outbox",
                    f"/d/bench/outbox?page=true&max_id={rng.randrange(2, notes + 2)}",
                    "application/activity+json",
                ),
            ):
                t0 = time.perf_counter()
                async with session.get(base + path, headers={"Accept": accept}) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                out[name].append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=100_000)
    parser.add_argument("--discussions", type=int, default=10_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    args = parser.parse_args()
    sizes = {"small": (100, 10), "large": (args.notes, args.discussions)}
    author = keys.generate_private_key()
    results: dict[str, Any] = {"sizes": sizes, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory(prefix="ff-growth-") as tmp_name:
        tmp = Path(tmp_name)
        for engine in args.engines.split(","):
            for size, (notes, discussions) in sizes.items():
                port = free_port()
                with home(engine, tmp / f"{engine}-{size}", f"http://127.0.0.1:{port}") as h:
                    t0 = time.perf_counter()
                    asyncio.run(seed(h, notes, discussions, keys.public_pem(author)))
                    seeded = time.perf_counter() - t0
                    taken = {"claim": asyncio.run(claims(h))}
                    with h.serve(port, 1, "--no-worker") as (base, _pid):
                        taken |= asyncio.run(requests(base, author, notes))
                results[f"{engine}-{size}"] = {
                    op: statistics.median(ms) for op, ms in taken.items()
                } | {"seed_s": seeded}
                print(f"{engine} {size}: seeded in {seeded:.0f} s", flush=True)
    path = save("growth", results)
    print(table(results, args.engines.split(",")))
    print(f"results: {path}")


def table(results: dict[str, Any], engines: list[str]) -> str:
    head = "| operation (median ms, one at a time) |"
    rule = "|---|"
    for engine in engines:
        head += f" {engine} small | {engine} large | large/small |"
        rule += "---|---|---|"
    lines = [head, rule]
    for op, label in (
        ("inbox", "inbox reply (signed POST → 202)"),
        ("page", "discussion page, random keyset position"),
        ("outbox", "outbox page, random keyset position"),
        ("claim", "claim of one delivery (store call)"),
    ):
        row = f"| {label} |"
        for engine in engines:
            small, large = results[f"{engine}-small"][op], results[f"{engine}-large"][op]
            row += f" {small:.2f} | {large:.2f} | {large / small:.2f}x |"
        lines.append(row)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
