"""Bench: inbox throughput, full path, next to the verify-only ceiling of the same run.

Method (reference/performance.md, ../shared/perf-kit): pre-sign M unique Create(Note)
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
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _harness import ensure_wrk, free_port, parse_wrk, process, save, server, summary

from fedi_forum.activitypub import keys
from fedi_forum.activitypub.signatures import sign_request
from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.models import RemoteActor, utcnow
from fedi_forum.store import Database, Store
from fedi_forum.store.keyfiles import KeyFiles

ACTORS = 200
DISCUSSIONS = 10
KEYS = 20
SEP = b"\n#--8<--#\n"
REMOTE = "http://remote.invalid"
LUA = """
local reqs = {}
local i = 0
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a"); f:close()
  local sep = "\\n#--8<--#\\n"
  local s = 1
  while true do
    local a, b = string.find(data, sep, s, true)
    if not a then table.insert(reqs, string.sub(data, s)); break end
    table.insert(reqs, string.sub(data, s, a - 1)); s = b + 1
  end
end
request = function() i = i % #reqs + 1; return reqs[i] end
"""


def _sign_chunk(args: tuple[list[bytes], int, int, str]) -> list[bytes]:
    pems, start, stop, base = args
    private = [keys.load_private_pem(p) for p in pems]
    out = []
    for i in range(start, stop):
        a = i % ACTORS
        actor = f"{REMOTE}/users/a{a}"
        d = i % DISCUSSIONS
        note = {
            "id": f"{actor}/statuses/{i}", "type": "Note", "attributedTo": actor,
            "content": f"<p>Reactie {i}: de fietsroute langs het kanaal is een goed idee, "
                       "maar let op de verlichting.</p>",
            "inReplyTo": f"{base}/d/b{d}/m/0", "published": "2026-11-28T10:00:00Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers", f"{base}/d/b{d}"],
        }  # fmt: skip
        activity = {"@context": "https://www.w3.org/ns/activitystreams",
                    "id": f"{note['id']}/activity", "type": "Create", "actor": actor,
                    "to": note["to"], "cc": note["cc"], "object": note}  # fmt: skip
        body = json.dumps(activity).encode()
        path = f"/d/b{d}/inbox"
        headers = sign_request(
            method="POST",
            url=f"{base}{path}",
            key_id=f"{actor}#main-key",
            private_key=private[a % KEYS],
            body=body,
        )
        head = (
            f"POST {path} HTTP/1.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + f"content-length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


def sign_all(pems: list[bytes], count: int, base: str) -> bytes:
    chunks = [(pems, s, min(s + 2000, count), base) for s in range(0, count, 2000)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        return SEP.join(r for part in pool.map(_sign_chunk, chunks) for r in part)


async def seed(settings: Settings, pems: list[bytes]) -> None:
    db = Database(settings.db_path)
    await db.open()
    try:
        store = Store(db)
        await store.claim_base_url(settings.base_url)
        discussions = Discussions(settings, store, KeyFiles(settings.keys_dir))
        for d in range(DISCUSSIONS):
            await discussions.create(slug=f"b{d}", title=f"Discussie {d}", body="Wat vindt u?",
                                     lang="nl")  # fmt: skip
        publics = [keys.public_pem(keys.load_private_pem(p)) for p in pems]
        await asyncio.gather(*(store.upsert_actor(RemoteActor(
            id=f"{REMOTE}/users/a{a}", host="remote.invalid", type="Person",
            preferred_username=f"a{a}", name=f"Inwoner {a}", url=None, icon_url=None,
            inbox=f"{REMOTE}/users/a{a}/inbox", shared_inbox=f"{REMOTE}/inbox",
            key_id=f"{REMOTE}/users/a{a}#main-key", public_key_pem=publics[a % KEYS],
            fetched_at=utcnow())) for a in range(ACTORS)))  # fmt: skip
    finally:
        await db.close()


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--profile", metavar="SVG", help="py-spy flame graph of one full run")
    args = parser.parse_args()
    wrk = ensure_wrk()
    if wrk is None:
        sys.exit("this benchmark needs wrk (apt-get install wrk)")
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="ff-inbox-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        pems = [keys.private_pem(keys.generate_private_key()) for _ in range(KEYS)]
        pem_files = []
        for i, pem in enumerate(pems):
            (tmp / f"k{i}.pem").write_bytes(pem)
            pem_files.append(str(tmp / f"k{i}.pem"))
        template = Settings(base_url=base, data_dir=tmp / "template" / "data",
                            keys_dir=tmp / "template" / "keys")  # fmt: skip
        asyncio.run(seed(template, pems))
        t0 = time.perf_counter()
        load = tmp / "load.bin"
        load.write_bytes(sign_all(pems, args.requests, base))
        print(f"signed {args.requests} unique requests in {time.perf_counter() - t0:.1f}s")
        script = tmp / "load.lua"
        script.write_text(LUA)
        (tmp / "verify_app.py").write_text(
            VERIFY_APP.format(
                root=root, pem_files=pem_files, remote=REMOTE, nkeys=KEYS, actors=ACTORS, base=base
            )
        )

        full, verify, stored = [], [], []
        for run in range(args.runs):
            # the ceiling: signature verification only
            verify_cmd = [sys.executable, "-m", "uvicorn", "verify_app:app", "--port",
                          str(port), "--workers", str(args.workers), "--no-access-log",
                          "--log-level", "warning"]  # fmt: skip
            with process(verify_cmd, port, cwd=tmp):
                verify.append(_wrk(wrk, base, script, load, args))
            # the real server on a fresh copy of the seeded data directory
            copy = tmp / f"run{run}"
            shutil.copytree(tmp / "template", copy)
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
                        [py_spy, "record", "--subprocesses", "--threads", "--format", fmt,
                         "-o", args.profile, "--pid", str(pid), "--duration", str(args.seconds)]
                    )  # fmt: skip
                full.append(_wrk(wrk, base, script, load, args))
                if spy is not None:
                    spy.wait(timeout=60)
            db = sqlite3.connect(copy / "data" / "fedi-forum.sqlite3")
            notes = db.execute("SELECT count(*) FROM notes WHERE seq > 0").fetchone()[0]
            queued = db.execute("SELECT count(*) FROM deliveries").fetchone()[0]
            db.close()
            stored.append({"notes": notes, "deliveries": queued,
                           "accepted_per_s": notes / args.seconds})  # fmt: skip
            shutil.rmtree(copy)
    accepted = sorted(s["accepted_per_s"] for s in stored)
    result = {
        "requests": args.requests, "connections": args.connections, "seconds": args.seconds,
        "workers": args.workers, "full": summary(full), "verify_only": summary(verify),
        "stored": stored, "accepted_per_s_median": accepted[len(accepted) // 2],
    }  # fmt: skip
    ratio = result["full"]["rps_median"] / result["verify_only"]["rps_median"]
    result["ratio"] = ratio
    path = save("inbox", result)
    print(
        f"inbox, {ACTORS} actors, {DISCUSSIONS} discussions, c{args.connections}, "
        f"{args.workers} worker(s), {args.seconds}s x {args.runs}; median [min-max]"
    )
    for name in ("verify_only", "full"):
        s = result[name]
        print(
            f"{name:>12}: {s['rps_median']:8.0f}/s [{s['rps_min']:.0f}-{s['rps_max']:.0f}]"
            f"  p99 {s['p99_ms_median']:.1f} ms"
        )
    print(
        f"{'stored':>12}: {result['accepted_per_s_median']:8.0f} notes/s "
        f"(each with its Announce + delivery row); full/verify = {ratio:.0%}"
    )
    print(f"results: {path}")


def _wrk(
    wrk: str, base: str, script: Path, load: Path, args: argparse.Namespace
) -> dict[str, float]:
    out = subprocess.run(
        [wrk, "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s",
         str(script), base, "--", str(load)],
        capture_output=True, text=True, timeout=args.seconds + 60, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    return parse_wrk(out.stdout)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
