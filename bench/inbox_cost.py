"""Bench (diagnostic, not a goal row): where one inbox reply's CPU goes.

bench/inbox.py measures G1 over HTTP with wrk, all on the same 2 cores, so a change of
10% in the inbox's own cost hides in the noise of the load generator, uvicorn and the
scheduler. This one sends the same signed replies (same seed, actors and discussions)
straight to the ASGI app inside one process, 64 at a time, and reports:

* CPU µs per reply of the whole process and of each thread (the event loop, which
  parses, verifies, sanitises and stems; the SQLite writer; the others);
* the same for bench/inbox.py's verify-only app: G1's ceiling as a cost, so a goal
  such as "35% of verify-only" reads as a budget in µs;
* one further run with every SQL statement of the writer timed (the timer adds its own
  cost: that run's totals are not reported, only the statements' shares);
* with ``--rejected``, G1-rej's load instead (bad signatures, Digests and Dates, as
  bench/inbox.py replays them): what a refused request costs, against verify-only's
  refusal;
* with ``--engine postgresql``, the same on a PostgreSQL database of its own (issue #13's
  inbox row): the writer is then the psycopg thread, and the CPU of every PostgreSQL
  process on the machine (its backends, WAL writer, checkpointer) is reported beside
  ours, per reply, since PostgreSQL shares the same 2 cores.

Median [min-max] of ``--runs``. No HTTP parsing, no load generator: add uvicorn's own
cost per request (bench/reads.py, hello-JSON) to compare with G1.

    .venv/bin/python bench/inbox_cost.py [--replies 4000] [--runs 3] [--rejected]
        [--engine sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _engine import ENGINES, home
from _harness import proc_cpu, save
from _signed import Plan, Signed, rejected_variants, sign
from inbox import ACTORS, DISCUSSIONS, KEYS, REMOTE, VERIFY_APP, seed

from fedi_forum.activitypub import keys
from fedi_forum.app import create_app
from fedi_forum.config import Settings
from fedi_forum.store import conn as store_conn

CONCURRENCY = 64
ACCEPTED, REFUSED = range(202, 203), range(400, 500)  # the answers a load must get
WARM = 500  # replies sent before measuring: caches, the first group commits
HOST = "127.0.0.1:8999"  # never listened on: the requests go straight to the app
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads, by Python thread name (the OS
    knows them all as "python")."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = collections.defaultdict(float)
    for tid in os.listdir("/proc/self/task"):
        found = proc_cpu(f"/proc/self/task/{tid}/stat")
        if found is None:
            continue  # ended meanwhile
        name = names.get(int(tid), "other")
        # pools number their threads (sqlite-writer_0): one row per pool
        out[name.rsplit("_", 1)[0] if name[-1:].isdigit() else name] += found[1]
    return out


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (by its command name)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        found = proc_cpu(f"/proc/{pid}/stat") if pid.isdigit() else None
        if found is not None and found[0].startswith("postgres"):
            total += found[1]
    return total


async def _post(app: App, request: Signed) -> int:
    path, headers, body = request
    raw_headers = [(b"host", HOST.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items() if k != "host"]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8999),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app: App, requests: list[Signed], wanted: range) -> dict[str, Any]:
    """Send ``requests`` 64 at a time; CPU µs per reply, whole and by thread."""
    gate = asyncio.Semaphore(CONCURRENCY)
    statuses: collections.Counter[int] = collections.Counter()

    async def one(request: Signed) -> None:
        async with gate:
            statuses[await _post(app, request)] += 1

    pg0 = _postgres_cpu()
    before, cpu0, wall0 = _thread_cpu(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    after, cpu1, wall1 = _thread_cpu(), time.process_time(), time.perf_counter()
    pg1 = _postgres_cpu()
    n = len(requests)
    if any(status not in wanted for status in statuses):
        raise SystemExit(f"answers not all {wanted}: {dict(statuses)}")
    threads = {k: 1e6 * (after[k] - before.get(k, 0.0)) / n for k in after}
    return {
        "cpu_us": 1e6 * (cpu1 - cpu0) / n,
        "wall_us": 1e6 * (wall1 - wall0) / n,
        "threads_us": {k: v for k, v in threads.items() if v >= 1},
        "postgres_us": 1e6 * (pg1 - pg0) / n,
    }


@contextmanager
def _timed_sql(engine: str) -> Iterator[collections.Counter[str]]:
    """Time every statement the writer runs (its first 100 characters)."""
    spent: collections.Counter[str] = collections.Counter()
    conn_class: Any = store_conn.SqliteConn
    if engine == "postgresql":
        from fedi_forum.store.postgres import PgConn

        conn_class = PgConn
    original = conn_class.execute

    def execute(self: Any, sql: str, params: Any = ()) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, sql, params)
        finally:
            spent[" ".join(sql.split())[:100]] += time.perf_counter() - t0

    conn_class.execute = execute
    try:
        yield spent
    finally:
        conn_class.execute = original


async def _full(
    engine: str, tmp: Path, pems: list[bytes], load: list[Signed], wanted: range, timed: bool
) -> dict[str, Any]:
    with home(engine, tmp / f"run{time.monotonic_ns()}", f"http://{HOST}") as where:
        settings = dataclasses.replace(
            where.settings,
            run_worker=False,  # the inbox path alone, as G1 (deliveries: bench/fanout.py)
            inbox_rate=0,
        )
        await seed(settings, pems)
        return await _measure(engine, settings, load, wanted, timed)


async def _measure(
    engine: str, settings: Settings, load: list[Signed], wanted: range, timed: bool
) -> dict[str, Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await _drive(app, load[:WARM], wanted)
        if not timed:
            return await _drive(app, load[WARM:], wanted)
        with _timed_sql(engine) as spent:
            await _drive(app, load[WARM:], wanted)
        total = sum(spent.values())
        n = len(load) - WARM
        return {
            "sql_us": 1e6 * total / n,
            "statements": [
                {"us": 1e6 * s / n, "share": s / total, "sql": sql}
                for sql, s in spent.most_common(12)
            ],
        }


def _verify_app(tmp: Path, pems: list[bytes]) -> App:
    """bench/inbox.py's verify-only app, imported from the file it writes for uvicorn."""
    pem_files = []
    for i, pem in enumerate(pems):
        (tmp / f"k{i}.pem").write_bytes(pem)
        pem_files.append(str(tmp / f"k{i}.pem"))
    module_path = tmp / "verify_app.py"
    module_path.write_text(
        VERIFY_APP.format(
            root=str(Path(__file__).resolve().parents[1]),
            pem_files=pem_files,
            remote=REMOTE,
            nkeys=KEYS,
            actors=ACTORS,
            base=f"http://{HOST}",
        )
    )
    spec = importlib.util.spec_from_file_location("verify_app", module_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: App = module.app
    return app


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.0f} [{min(values):.0f}-{max(values):.0f}]"


async def _main(args: argparse.Namespace) -> None:
    pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
    with tempfile.TemporaryDirectory(prefix="ff-inbox-cost-") as tmp_name:
        tmp = Path(tmp_name)
        plan = Plan(base=f"http://{HOST}", pems=pems, actors=ACTORS, discussions=DISCUSSIONS)
        load = sign(plan, 0, WARM + args.replies)
        wanted = ACCEPTED
        if args.rejected:  # G1-rej's three kinds, as bench/inbox.py replays them
            wanted = REFUSED
            stale = sign(dataclasses.replace(plan, tag="stale", skew_s=7200), 0, 100)
            bad = rejected_variants(load[:300], stale)
            load = [bad[i % len(bad)] for i in range(len(load))]
        verify_app = _verify_app(tmp, pems)
        full, verify = [], []
        for _ in range(args.runs):  # interleaved: a noisy minute touches both
            await _drive(verify_app, load[:WARM], wanted)
            verify.append(await _drive(verify_app, load[WARM:], wanted))
            full.append(await _full(args.engine, tmp, pems, load, wanted, timed=False))
        # the writer's statements (a refused request writes nothing)
        sql = {} if args.rejected else await _full(args.engine, tmp, pems, load, wanted, timed=True)
    threads = sorted({k for run in full for k in run["threads_us"]})
    what = "refused requests (G1-rej)" if args.rejected else "replies"
    print(
        f"inbox cost in-process on {args.engine}, {args.replies} {what} x {args.runs}; "
        "CPU µs per request"
    )
    print(f"{'verify-only':>24}: {_spread([r['cpu_us'] for r in verify])}")
    print(f"{'full path':>24}: {_spread([r['cpu_us'] for r in full])}")
    for name in threads:
        print(f"{name:>24}: {_spread([r['threads_us'].get(name, 0.0) for r in full])}")
    if args.engine == "postgresql":
        print(f"{'PostgreSQL processes':>24}: {_spread([r['postgres_us'] for r in full])}")
    ratio = statistics.median(r["cpu_us"] for r in verify) / statistics.median(
        r["cpu_us"] for r in full
    )
    print(f"{'verify / full':>24}: {ratio:.0%}")
    if sql:
        print(f"writer SQL (timed run): {sql['sql_us']:.0f} µs per reply")
        for s in sql["statements"]:
            print(f"  {s['us']:6.1f} µs {s['share']:4.0%}  {s['sql']}")
    path = save(
        "inbox_cost",
        {
            "engine": args.engine,
            "replies": args.replies,
            "rejected": args.rejected,
            "verify": verify,
            "full": full,
            **sql,
        },
    )
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rejected", action="store_true", help="G1-rej's bad signatures, Digests and Dates"
    )
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
