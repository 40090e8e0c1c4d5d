"""Bench: inbox throughput, full path, next to the verify-only ceiling of the same run.

Method (bench/README.md; costs: docs/rules.md §14): pre-sign M unique Create(Note)
replies from 200 simulated actors into 10 discussions (draft-cavage rsa-sha256 +
Digest, made with our own signer), replay them with wrk against

* the real `fedi-forum serve` (signature, Digest and Date window, JSON, dedupe, store
  the note + the group's Announce + its delivery row in one group-committed
  transaction, 202 after COMMIT), on a fresh copy of the seeded data directory each run;
* a verify-only app built on the same signature code (parse, Digest, window, RSA
  verify with a cached key, 202): the ceiling.

The actors' keys are in the database beforehand (no fetches: that is G1-key, a later
issue). Prints accepted/s and p99 (median of N runs) and the ratio; writes JSON.

    .venv/bin/python bench/inbox.py [--runs 3] [--seconds 8] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from _harness import (
    ceiling_server,
    ensure_wrk,
    free_port,
    parse_wrk,
    process,
    rss_mb,
    save,
    server,
    summary,
)
from _seed import forum, known_servers
from _signed import (
    LUA,
    REMOTE,
    Plan,
    oversize,
    oversize_load,
    rejected_variants,
    sign,
    write_load,
)

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.models import RemoteActor, utcnow

ACTORS = 200
DISCUSSIONS = 10
KEYS = 20
SINK_HOSTS = 20  # G1-default: the actors' servers, on 127.0.0.1-127.0.0.20 (bench/sink.py)


def _home(a: int, sink_port: int | None) -> str:
    """Where actor ``a``'s inboxes are: nowhere (the inbox path alone never delivers),
    or one of the sink's hosts (G1-default, whose worker sends each reply's Announce to
    its author)."""
    return REMOTE if sink_port is None else f"http://127.0.0.{a % SINK_HOSTS + 1}:{sink_port}"


async def seed(settings: Settings, pems: list[bytes], sink_port: int | None = None) -> None:
    async with forum(settings) as discussions:
        store = discussions.store
        for d in range(DISCUSSIONS):
            await discussions.create(
                slug=f"b{d}", title=f"Discussie {d}", body="Wat vindt u?", lang="nl"
            )
        publics = [keys.public_pem(keys.load_private_pem(p)) for p in pems]
        await asyncio.gather(
            *(
                store.upsert_actor(
                    RemoteActor(
                        id=f"{REMOTE}/users/a{a}",
                        host="remote.invalid",
                        type="Person",
                        preferred_username=f"a{a}",
                        name=f"Inwoner {a}",
                        url=None,
                        icon_url=None,
                        inbox=f"{_home(a, sink_port)}/users/a{a}/inbox",
                        shared_inbox=f"{_home(a, sink_port)}/inbox",
                        key_id=f"{REMOTE}/users/a{a}#main-key",
                        public_key_pem=publics[a % KEYS],
                        fetched_at=utcnow(),
                    )
                )
                for a in range(ACTORS)
            )
        )
        if sink_port is not None:  # Mastodon servers, looked up already
            await known_servers(
                store, {urlsplit(_home(a, sink_port)).netloc for a in range(ACTORS)}
            )


VERIFY_APP = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from fedi_forum.activitypub import keys, signatures
import orjson
PEMS = [Path(p).read_bytes() for p in {pem_files!r}]
PUB = {{f"{remote}/users/a{{a}}#main-key": keys.load_private_pem(PEMS[a % {nkeys}]).public_key()
       for a in range({actors})}}
BASE = {base!r}
async def inbox(request):
    body = await request.body()
    headers = {{k: v for k, v in request.headers.items()}}
    try:
        claim = signatures.read_signature(signatures.Request("POST", BASE + request.url.path,
                                                             headers, body))
        claim.verify(PUB[claim.key_id])
        orjson.loads(body)
    except Exception as exc:
        return Response(str(exc), status_code=401)
    return Response(status_code=202)
app = Starlette(routes=[Route("/d/{{slug}}/inbox", inbox, methods=["POST"])])
"""


def _scalar(db_path: Path, sql: str) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def _counts(db_path: Path) -> dict[str, int]:
    tables = ("notes", "activities_seen", "deliveries", "actors", "outbox")
    return {t: _scalar(db_path, f"SELECT count(*) FROM {t}") for t in tables}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", metavar="SVG", help="py-spy flame graph of one full run")
    parser.add_argument("--g6-seconds", type=int, default=10, help="c512 run (c2048: half)")
    parser.add_argument(
        "--g6-cap",
        default="",
        help="FEDI_FORUM_MAX_IN_FLIGHT for G6 (default: the server's own default)",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    if wrk is None:
        sys.exit("this benchmark needs wrk (apt-get install wrk)")
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="ff-inbox-") as tmp_name:
        tmp = Path(tmp_name)
        port, sink_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        pem_files = []
        for i, pem in enumerate(pems):
            (tmp / f"k{i}.pem").write_bytes(pem)
            pem_files.append(str(tmp / f"k{i}.pem"))
        template = Settings(
            base_url=base, data_dir=tmp / "template" / "data", keys_dir=tmp / "template" / "keys"
        )
        asyncio.run(seed(template, pems, sink_port))
        t0 = time.perf_counter()
        plan = Plan(base=base, pems=pems, actors=ACTORS, discussions=DISCUSSIONS)
        good = sign(plan, 0, args.requests)
        load = write_load(tmp / "load.bin", good)
        # G1-rej: 300 distinct bad requests, replayed; and 20 bodies over the cap
        stale = sign(dataclasses.replace(plan, tag="stale", skew_s=7200), 0, 100)
        bad = write_load(tmp / "bad.bin", rejected_variants(good[:300], stale))
        big = oversize(good[:20])
        print(f"signed {args.requests} unique requests in {time.perf_counter() - t0:.1f}s")
        script = tmp / "load.lua"
        script.write_text(LUA)
        (tmp / "verify_app.py").write_text(
            VERIFY_APP.format(
                root=root, pem_files=pem_files, remote=REMOTE, nkeys=KEYS, actors=ACTORS, base=base
            )
        )

        rows: dict[str, list[dict[str, float]]] = {
            "verify_only": [],
            "full": [],
            "full_c8": [],
            "rejects": [],
            "overload": [],
            "overload_2048": [],
            "oversize": [],
            "default": [],
        }
        stored, rej_writes, overload, default = [], [], [], []
        half = args.requests // 2
        for run in range(args.runs):
            # the ceiling: signature verification only
            verify_cmd = ceiling_server("verify_app:app", port, args.workers)
            with process(verify_cmd, port, cwd=tmp):
                rows["verify_only"].append(_wrk(wrk, base, script, load, args))
            # the real server on a fresh copy of the seeded data directory
            copy = tmp / f"run{run}"
            shutil.copytree(tmp / "template", copy)
            db_path = copy / "data" / "fedi-forum.sqlite3"
            # the inbox path alone: deliveries are measured by bench/fanout.py
            with server(copy / "data", copy / "keys", port, args.workers, "--no-worker") as (
                _,
                pid,
            ):
                spy = None
                if args.profile and run == 0:
                    fmt = "raw" if args.profile.endswith(".txt") else "flamegraph"
                    py_spy = str(Path(sys.executable).with_name("py-spy"))
                    spy = subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--subprocesses",
                            "--threads",
                            "--format",
                            fmt,
                            "-o",
                            args.profile,
                            "--pid",
                            str(pid),
                            "--duration",
                            str(args.seconds),
                        ]
                    )
                before = _counts(db_path)
                rows["full"].append(_wrk(wrk, base, script, load, args))
                if spy is not None:
                    spy.wait(timeout=60)
                time.sleep(1)  # requests still in flight when wrk stopped are committed
                after = _counts(db_path)
                stored.append(
                    {
                        "notes": after["notes"] - before["notes"],
                        "deliveries": after["deliveries"] - before["deliveries"],
                        "accepted_per_s": (after["notes"] - before["notes"]) / args.seconds,
                    }
                )
                # G1-lat at 8 connections, on requests the c64 run did not reach
                rows["full_c8"].append(
                    _wrk(wrk, base, script, load, args, connections=8, offset=half)
                )
                # G1-rej: nothing may be written
                time.sleep(1)
                before = _counts(db_path)
                rows["rejects"].append(_wrk(wrk, base, script, bad, args))
                rows["oversize"].append(
                    asyncio.run(oversize_load(port, big, 16, args.seconds))
                    | {"p99_ms": float("nan"), "non_2xx": 0.0}
                )
                time.sleep(1)
                rej_writes.append(sum(_counts(db_path).values()) - sum(before.values()))
            shutil.rmtree(copy)
            # G6: 512 connections, the server's own limits (in-flight cap → 503)
            copy = tmp / f"g6run{run}"
            shutil.copytree(tmp / "template", copy)
            with server(
                copy / "data",
                copy / "keys",
                port,
                args.workers,
                "--no-worker",
                env={"FEDI_FORUM_MAX_IN_FLIGHT": args.g6_cap},
            ) as (_, pid):
                db_path = copy / "data" / "fedi-forum.sqlite3"
                rss0 = rss_mb(pid)
                detail: dict[str, float] = {}
                g6 = args.g6_seconds
                # c512 replays from the middle of the load, c2048 from its start: no
                # request repeats, so every 2xx of a new request is a stored note
                runs_g6 = ((512, g6, "overload", half), (2048, max(g6 // 2, 4), "overload_2048", 0))
                for conns, secs, name, start in runs_g6:
                    time.sleep(1)  # the previous run's queued requests finish first
                    before = _counts(db_path)["notes"]
                    result = _wrk(
                        wrk, base, script, load, args, connections=conns, seconds=secs, offset=start
                    )
                    rows[name].append(result)
                    detail[f"{name}_goodput"] = (_counts(db_path)["notes"] - before) / secs
                    detail[f"{name}_refused_per_s"] = result["non_2xx"] / secs
                detail["rss_growth_mb"] = rss_mb(pid) - rss0
                overload.append(detail)
            shutil.rmtree(copy)
            default.append(g1_default(args, wrk, tmp, run, port, sink_port, rows["default"]))
    accepted = sorted(s["accepted_per_s"] for s in stored)
    result = {
        "requests": args.requests,
        "connections": args.connections,
        "seconds": args.seconds,
        "workers": args.workers,
        **{name: summary(runs) for name, runs in rows.items()},
        "stored": stored,
        "accepted_per_s_median": accepted[len(accepted) // 2],
        "reject_db_writes": rej_writes,
        "overload_detail": overload,
        "default_detail": default,
        "default_per_s_median": statistics.median(d["accepted_per_s"] for d in default),
    }
    ceiling = result["verify_only"]["rps_median"]
    result["ratio"] = result["full"]["rps_median"] / ceiling
    result["reject_ratio"] = result["rejects"]["rps_median"] / ceiling
    goodput = sorted(o["overload_goodput"] for o in overload)[len(overload) // 2]
    result["overload_goodput_ratio"] = goodput / result["accepted_per_s_median"]
    result["default_ratio"] = result["default_per_s_median"] / ceiling
    path = save("inbox", result)
    print(
        f"inbox, {ACTORS} actors, {DISCUSSIONS} discussions, {args.workers} worker(s), "
        f"{args.seconds}s x {args.runs}; median [min-max]"
    )
    labels = {
        "verify_only": "verify-only c64",
        "full": "G1 full c64",
        "full_c8": "G1 full c8",
        "rejects": "G1-rej c64",
        "oversize": "1 MiB+ bodies c16",
        "overload": "G6 c512 (all)",
        "overload_2048": "c2048 (all)",
        "default": "G1-default c64",
    }
    for name, label in labels.items():
        s = result[name]
        print(
            f"{label:>16}: {s['rps_median']:8.0f}/s [{s['rps_min']:.0f}-{s['rps_max']:.0f}]"
            f"  p99 {s['p99_ms_median']:.1f} ms"
        )
    print(
        f"{'stored':>16}: {result['accepted_per_s_median']:8.0f} notes/s (each with its "
        f"Announce + delivery row); full/verify = {result['ratio']:.0%}"
    )
    print(
        f"{'rejected':>16}: {result['reject_ratio']:.0%} of verify-only; rows written by "
        f"rejected requests: {rej_writes}"
    )
    o = overload[len(overload) // 2]
    print(
        f"{'G6':>16}: goodput {goodput:.0f} notes/s = {result['overload_goodput_ratio']:.0%} "
        f"of G1, refused {o['overload_refused_per_s']:.0f}/s; at c2048 goodput "
        f"{o['overload_2048_goodput']:.0f}/s, refused {o['overload_2048_refused_per_s']:.0f}/s "
        f"(503); RSS +{o['rss_growth_mb']:.0f} MB; server alive"
    )
    d = default[len(default) // 2]
    print(
        f"{'G1-default':>16}: {result['default_per_s_median']:8.0f} notes/s = "
        f"{result['default_ratio']:.0%} of verify-only, p99 "
        f"{result['default']['p99_ms_median']:.0f} ms; worker sent {d['sent']:.0f} of "
        f"{d['queued']:.0f} Announces 1 s after the load, all {d['drained_s']:.1f} s after"
    )
    print(f"results: {path}")


def g1_default(
    args: argparse.Namespace,
    wrk: str,
    tmp: Path,
    run: int,
    port: int,
    sink_port: int,
    runs: list[dict[str, Any]],
) -> dict[str, float]:
    """G1-default (issue #17): the inbox as an operator runs it, `serve --workers W` with
    its defaults (access log on, the in-flight cap, the delivery worker sending each
    reply's Announce to its author's server: a sink answering after 50-250 ms); only the
    per-client inbox rate limit is lifted, as one loopback address sends everything."""
    copy = tmp / f"default{run}"
    shutil.copytree(tmp / "template", copy)
    sink = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "sink.py"),
            str(sink_port),
            str(SINK_HOSTS),
            str(args.seconds + 60),
            "50,250",
        ]
    )
    db_path = copy / "data" / "fedi-forum.sqlite3"
    try:
        with server(
            copy / "data",
            copy / "keys",
            port,
            args.workers,
            "--allow-loopback",
            env={"FEDI_FORUM_MAX_IN_FLIGHT": ""},
            quiet=False,
        ) as (base, _):
            before = _counts(db_path)
            runs.append(_wrk(wrk, base, tmp / "load.lua", tmp / "load.bin", args))
            ended = time.perf_counter()
            time.sleep(1)  # requests in flight when wrk stopped are committed
            after = _counts(db_path)
            delivered = "SELECT count(*) FROM deliveries WHERE state = 'delivered'"
            sent = _scalar(db_path, delivered)
            # the worker yields while the inbox is busy (federation/delivery.py): how
            # long after the load the last Announce went out
            queued = after["deliveries"] - before["deliveries"]
            while _scalar(db_path, delivered) < queued and time.perf_counter() - ended < 60:
                time.sleep(0.1)
            drained = time.perf_counter() - ended
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(copy)
    notes = after["notes"] - before["notes"]
    return {
        "notes": notes,
        "accepted_per_s": notes / args.seconds,
        "queued": queued,
        "sent": sent,
        "drained_s": drained,
    }


def _wrk(
    wrk: str,
    base: str,
    script: Path,
    load: Path,
    args: argparse.Namespace,
    connections: int | None = None,
    seconds: int | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections or args.connections}",
            f"-d{seconds or args.seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base,
            "--",
            str(load),
            str(offset),
        ],
        capture_output=True,
        text=True,
        timeout=(seconds or args.seconds) + 60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    return parse_wrk(out.stdout)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
