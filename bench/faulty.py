"""Bench G2-faulty: faulty followers must not slow healthy ones.

Shaped like the independent measurement of the operations issue: 300 followers, each on
a server of its own (127.0.0.1 … 127.0.1.46, bench/sink.py), 30 replies at once. Two
discussions on two sinks: on the *clean* one every server answers after 50–250 ms; on
the *faulty* one 30 servers answer 500 and 15 take the request and never answer (a
black hole: the sender waits for its timeout). Per run, the time from the replies'
202s until the 255 healthy servers have all 30 Announces each (7,650 deliveries), on
both (the same 255 on the clean sink); the ratio faulty / clean is the figure (target
≤ 1.1×). Medians of N runs.

    .venv/bin/python bench/faulty.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import free_port, save, server
from _seed import known_servers, seeding
from fanout import _post_replies
from sink import address

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.models import utcnow

HOSTS = 300
DEAD, FAILING = 15, 30
HEALTHY = HOSTS - DEAD - FAILING
REPLIES = 30


async def seed(settings: Settings, sinks: dict[str, int], author_pem: str) -> None:
    """One discussion per sink, one follower on each of its HOSTS servers (own inbox,
    no shared inbox); their software is known (a warm NodeInfo cache), not their health."""
    async with seeding(settings, author_pem) as discussions:
        now = utcnow()
        for slug, port in sinks.items():
            d = await discussions.create(slug=slug, title=slug, body="b", lang="nl")
            for i in range(1, HOSTS + 1):
                origin = f"http://{address(i)}:{port}"
                await discussions.store.add_follower(
                    d.id,
                    actor_id=f"{origin}/users/u",
                    inbox=f"{origin}/users/u/inbox",
                    shared_inbox=None,
                    follow_activity_id=None,
                    now=now,
                )
            hosts = (f"{address(i)}:{port}" for i in range(1, HOSTS + 1))
            await known_servers(discussions.store, hosts, version="4.3")


def _delivered(db_path: Path, ids: list[str], hosts: list[str]) -> int:
    """Deliveries of these notes' Announces done to these servers."""
    db = sqlite3.connect(db_path)
    try:
        row = db.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'delivered' AND host IN "
            "(SELECT value FROM json_each(?)) AND activity_id IN (SELECT activity_id FROM "
            "outbox WHERE object_id IN (SELECT value FROM json_each(?)))",
            (json.dumps(hosts), json.dumps(ids)),
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


async def _until(db_path: Path, ids: list[str], hosts: list[str], limit: float) -> float:
    t0 = time.perf_counter()
    expected = len(hosts) * len(ids)
    while (done := _delivered(db_path, ids, hosts)) < expected:
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"only {done} of {expected} in {limit} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - t0


async def measure(
    runs: int, base: str, db_path: Path, key: object, sinks: dict[str, int]
) -> dict[str, object]:
    out = []
    next_id = 0
    for _ in range(runs):
        result = {}
        for slug in ("clean", "faulty"):
            ids = await _post_replies(base, key, next_id, REPLIES, slug=slug)
            next_id += REPLIES
            # the same 255 servers on both sinks (the first 255: healthy on both)
            hosts = [f"{address(i)}:{sinks[slug]}" for i in range(1, HEALTHY + 1)]
            result[f"{slug}_s"] = await _until(db_path, ids, hosts, 300)
        result["ratio"] = result["faulty_s"] / result["clean_s"]
        out.append(result)
        print(
            f"  run: clean {result['clean_s']:.1f} s, faulty {result['faulty_s']:.1f} s, "
            f"{result['ratio']:.2f}x",
            flush=True,
        )
    keys_ = ("clean_s", "faulty_s", "ratio")
    return {k: statistics.median(r[k] for r in out) for k in keys_} | {"runs": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", default="50,250", help="sink delay, ms (lo,hi)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-faulty-") as tmp_name:
        tmp = Path(tmp_name)
        port, clean_port, faulty_port = free_port(), free_port(), free_port()
        settings = Settings(
            base_url=f"http://127.0.0.1:{port}", data_dir=tmp / "data", keys_dir=tmp / "keys"
        )
        key = keys.generate_private_key()
        sinks = {"clean": clean_port, "faulty": faulty_port}
        asyncio.run(seed(settings, sinks, keys.public_pem(key)))
        sink_py = str(Path(__file__).parent / "sink.py")
        procs = []
        for slug, sink_port in sinks.items():
            faults = (str(DEAD), str(FAILING)) if slug == "faulty" else ()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        sink_py,
                        str(sink_port),
                        str(HOSTS),
                        "900",
                        args.latency,
                        *faults,
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        try:
            for proc in procs:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready"
            with server(settings.data_dir, settings.keys_dir, port, 1, "--allow-loopback") as (
                base,
                _pid,
            ):
                result = asyncio.run(measure(args.runs, base, settings.db_path, key, sinks))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
    path = save("faulty", result)
    print(
        f"G2-faulty: {REPLIES} replies to {HOSTS} followers on servers of their own; "
        f"{DEAD} never answer, {FAILING} answer 500; median of {args.runs}"
    )
    print(
        f"  healthy {HEALTHY} got their {HEALTHY * REPLIES:,} Announces in "
        f"{result['faulty_s']:.1f} s; the same 255 in a clean run in {result['clean_s']:.1f} s: "
        f"{result['ratio']:.2f}x (target <= 1.1x)"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
