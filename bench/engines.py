"""Bench: the PostgreSQL column (issue #13) — the same loads on SQLite and PostgreSQL,
in one run, so the ratio is not a comparison across days on a noisy machine.

* G1: the inbox's full path (unique pre-signed replies from 200 actors into 10
  discussions, wrk c64), `serve --workers W --no-worker` for W = 1 and 2: stored
  notes/s (rows counted in the database), on a fresh copy of the seeded instance each;
* G3/G4/G5 reads, beside no load, 2 web processes, wrk c64: a discussion's HTML page,
  its outbox's first page and the group actor (both AS2);
* G2 and scale-out: `serve --no-worker` and 1, 2, 3 `fedi-forum worker` processes, a
  sink of 200 servers answering after 50–250 ms (bench/sink.py): one reply to 10,000
  followers on 200 shared inboxes (commit → last 2xx recorded), then 50 replies =
  10,000 deliveries (deliveries/s).

PostgreSQL 15 runs on the same 2 cores as the server, its workers and the load
generator: its figures include that contention. Medians of N runs [min–max].

    .venv/bin/python bench/engines.py [--runs 3] [--seconds 8] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _engine import ENGINES, Home, copy, home
from _harness import bench_env, ensure_wrk, free_port, run_wrk, save
from _signed import LUA, Plan, sign, write_load
from fanout import HOSTS, _post_replies
from fanout import seed as seed_fanout
from inbox import ACTORS, DISCUSSIONS, KEYS, _wrk
from inbox import seed as seed_inbox

from fedi_forum.activitypub import keys

AS2 = 'wrk.headers["Accept"] = "application/activity+json"\n'
HTML = 'wrk.headers["Accept"] = "text/html"\n'
WORKER_COUNTS = (1, 2, 3)


def med(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def inbox_and_reads(
    args: argparse.Namespace, wrk: str, template: Home, tmp: Path, port: int, load: Path
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    script = tmp / "load.lua"
    script.write_text(LUA)
    reads = {
        "page": ("/d/b0", HTML),
        "outbox": ("/d/b0/outbox?page=true", AS2),
        "actor": ("/d/b0", AS2),
    }
    for name, (_, header) in reads.items():
        (tmp / f"{name}.lua").write_text(header)
    g1 = {} if args.only == "reads" else {"g1_w1": [], "g1_w2": []}
    out: dict[str, list[float]] = g1 | {k: [] for k in reads}
    for run in range(args.runs):
        for workers in (2,) if args.only == "reads" else (1, 2):
            with (
                copy(template, tmp / f"{template.engine}-run{run}-w{workers}") as fresh,
                fresh.serve(port, workers, "--no-worker"),
            ):
                if args.only != "reads":
                    before = fresh.count("notes")
                    _wrk(wrk, base, script, load, args)
                    time.sleep(1)  # requests in flight when wrk stopped are committed
                    out[f"g1_w{workers}"].append((fresh.count("notes") - before) / args.seconds)
                if workers == 2:
                    for name, (path, _) in reads.items():
                        result = run_wrk(wrk, base + path, tmp / f"{name}.lua", 64, args.seconds)
                        assert result["non_2xx"] == 0, (name, result)
                        out[name].append(result["rps"])
    return {k: med(v) for k, v in out.items()}


def _activities(home: Home, note_ids: list[str]) -> list[str]:
    """The group's Announce of each note (in the outbox once the inbox committed)."""
    marks = ",".join("?" * len(note_ids))
    return [
        str(r[0])
        for r in home.rows(
            f"SELECT activity_id FROM outbox WHERE object_id IN ({marks})", tuple(note_ids)
        )
    ]


def _wait(home: Home, note_ids: list[str], expected: int, limit: float) -> float:
    """Seconds until ``expected`` deliveries of these notes' Announces are delivered:
    one indexed count every 20 ms (cheap on both engines, so the poll does not weigh on
    the database it measures)."""
    t0 = time.perf_counter()
    activities = _activities(home, note_ids)
    marks = ",".join("?" * len(activities))
    query = (
        f"SELECT count(*) FROM deliveries WHERE activity_id IN ({marks}) AND state = 'delivered'"
    )
    while int(home.rows(query, tuple(activities))[0][0]) < expected:
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(
                f"{home.rows(query, tuple(activities))[0][0]} of {expected} delivered"
            )
        time.sleep(0.02)
    return time.perf_counter() - t0


@contextlib.contextmanager
def workers(fresh: Home, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = bench_env(fresh.env())
    s = fresh.settings
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "fedi_forum", "worker", "--allow-loopback"),
                *("--data-dir", str(s.data_dir), "--keys-dir", str(s.keys_dir)),
                *("--log-level", "warning"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        time.sleep(1.5)  # every worker connected and listening for work
        for proc in procs:
            assert proc.poll() is None, "a worker died"
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a finding: say so, and go on
                print(f"a worker did not stop within 30 s of SIGTERM: {proc.pid}", flush=True)
                proc.kill()
                proc.wait()


def fanout(
    args: argparse.Namespace, template: Home, tmp: Path, port: int, key: object
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in WORKER_COUNTS:
        single, sustained = [], []
        with (
            copy(template, tmp / f"{template.engine}-fan-{count}") as fresh,
            fresh.serve(port, 1, "--no-worker", "--allow-loopback") as (base, _pid),
            workers(fresh, count),
        ):
            next_id = 0
            for _ in range(args.runs):
                ids = asyncio.run(_post_replies(base, key, next_id, 1))
                next_id += 1
                single.append(_wait(fresh, ids, HOSTS, 60))
                t0 = time.perf_counter()
                ids = asyncio.run(_post_replies(base, key, next_id, 50))
                next_id += 50
                _wait(fresh, ids, HOSTS * 50, 180)
                sustained.append(HOSTS * 50 / (time.perf_counter() - t0))
        out[f"workers_{count}"] = {"single_s": med(single), "sustained_per_s": med(sustained)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", metavar="JSON", help="only print the table of a result")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--only",
        choices=("reads", "inbox"),
        help="reads: only G3/G4/G5; inbox: only G1 and the reads (no fan-out)",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    if args.table:
        print(table(json.loads(Path(args.table).read_text()), engines))
        return
    wrk = ensure_wrk()
    if wrk is None:
        sys.exit("this benchmark needs wrk (apt-get install wrk)")
    results: dict[str, Any] = {"runs": args.runs, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="ff-engines-") as tmp_name:
        tmp = Path(tmp_name)
        port, sink_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        plan = Plan(base=base, pems=pems, actors=ACTORS, discussions=DISCUSSIONS)
        load = write_load(tmp / "load.bin", sign(plan, 0, args.requests))
        author = keys.generate_private_key()
        sink = subprocess.Popen(
            [
                *(sys.executable, str(Path(__file__).parent / "sink.py"), str(sink_port)),
                *(str(HOSTS), "3600", "50,250"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert sink.stdout is not None
            assert sink.stdout.readline().strip() == "ready"
            for engine in engines:
                t0 = time.perf_counter()
                with (
                    home(engine, tmp / f"{engine}-inbox", base) as inbox_home,
                    home(engine, tmp / f"{engine}-fan", base) as fan_home,
                ):
                    asyncio.run(seed_inbox(inbox_home.settings, pems))
                    asyncio.run(
                        seed_fanout(fan_home.settings, {"fan": sink_port}, keys.public_pem(author))
                    )
                    results[engine] = inbox_and_reads(args, wrk, inbox_home, tmp, port, load)
                    if args.only is None:
                        results[engine] |= fanout(args, fan_home, tmp, port, author)
                print(f"{engine}: {time.perf_counter() - t0:.0f} s", flush=True)
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    # a partial run is kept apart: the goal table reads only whole ones (bench/goals.py)
    path = save("engines" if args.only is None else f"engines-only-{args.only}", results)
    print(table(results, engines))
    print(f"results: {path}")


def _fig(entry: dict[str, float], fmt: str) -> str:
    return f"{fmt.format(entry['median'])} [{fmt.format(entry['min'])}–{fmt.format(entry['max'])}]"


ROWS = (
    # (label, key path, format, target ratio PostgreSQL/SQLite or None)
    ("G1 inbox, stored replies/s, 1 web process", ("g1_w1",), "{:,.0f}", None),
    ("G1 inbox, stored replies/s, 2 web processes", ("g1_w2",), "{:,.0f}", 0.8),
    ("G3 discussion page (HTML), GET/s, 2w c64", ("page",), "{:,.0f}", 0.8),
    ("G4 outbox first page (AS2), GET/s, 2w c64", ("outbox",), "{:,.0f}", 0.8),
    ("G5 group actor (AS2), GET/s, 2w c64", ("actor",), "{:,.0f}", 0.8),
    *(
        (
            f"G2 one reply to 10,000 followers, s, {n} worker(s)",
            (f"workers_{n}", "single_s"),
            "{:.2f}",
            None,
        )
        for n in WORKER_COUNTS
    ),
    *(
        (
            f"sustained deliveries/s, {n} worker(s)",
            (f"workers_{n}", "sustained_per_s"),
            "{:,.0f}",
            None,
        )
        for n in WORKER_COUNTS
    ),
)


def table(results: dict[str, Any], engines: list[str]) -> str:
    lines = [
        "| measure | " + " | ".join(engines) + " | PostgreSQL / SQLite | target |",
        "|---|" + "---|" * len(engines) + "---|---|",
    ]
    for label, keys_, fmt, target in ROWS:
        cells, medians = [], {}
        if any(keys_[0] not in results[engine] for engine in engines):
            continue  # not measured in this run (--only)
        for engine in engines:
            entry = results[engine]
            for k in keys_:
                entry = entry[k]
            cells.append(_fig(entry, fmt))
            medians[engine] = entry["median"]
        ratio = ""
        if len(medians) == 2:
            r = medians["postgresql"] / medians["sqlite"]
            ratio = f"{r:.2f}x"
        goal = ""
        if target is not None:
            goal = f"≥ {target}x"
        if label.startswith("G2") and "2 worker" in label:
            goal = "≤ 1.0 s on PostgreSQL"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} | {goal} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
