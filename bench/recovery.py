"""Bench G7-recovery: after `kill -9` and a restart, how soon do the deliveries the dead
process had leased go out again?

Per run: a fresh data directory, a discussion with 20 followers on a recorder server in
this process (127.0.0.1), the real `fedi-forum serve` (default 120 s lease). The
recorder holds every request; one reply is posted, and once deliveries are in flight
(leased) the server is killed with SIGKILL and the held requests are refused unanswered.
Then `serve` is started again, and the figure is the time from that start to the first
2xx for a delivery that was in flight at the kill (the process start and its imports
included). Before lease owners (docs/delivery.md) this was the lease: 120 s. Median of
N runs (default 5).

    .venv/bin/python bench/recovery.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from _harness import free_port, save
from _seed import known_servers, seeding
from fanout import _post_replies

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.models import utcnow

FOLLOWERS = 20


class Recorder:
    def __init__(self) -> None:
        self.hold = asyncio.Event()  # set: requests are held
        self.released = asyncio.Event()
        self.held_paths: set[str] = set()
        self.delivered: dict[str, float] = {}  # path → first 2xx time
        self.arrived = asyncio.Event()  # set at every request

    async def inbox(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived.set()
        if self.hold.is_set():
            self.held_paths.add(request.path)
            await self.released.wait()
            return web.Response(status=503)
        self.delivered.setdefault(request.path, time.perf_counter())
        return web.Response(status=202)


async def seed(settings: Settings, port: int, author_pem: str) -> None:
    async with seeding(settings, author_pem) as discussions:
        now = utcnow()
        d = await discussions.create(slug="fan", title="Recovery", body="b", lang="nl")
        origin = f"http://127.0.0.1:{port}"
        for i in range(FOLLOWERS):
            await discussions.store.add_follower(
                d.id,
                actor_id=f"{origin}/users/u{i}",
                inbox=f"{origin}/users/u{i}/inbox",
                shared_inbox=None,
                follow_activity_id=None,
                now=now,
            )
        await known_servers(discussions.store, [f"127.0.0.1:{port}"], version="4.3")


def _spawn(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDI_FORUM_")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedi_forum",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(settings.data_dir),
            "--keys-dir",
            str(settings.keys_dir),
            "--allow-loopback",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _listening(port: int, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("server did not start")


async def one_run(tmp: Path) -> dict[str, float]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/users/{name}/inbox", recorder.inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    rec_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", rec_port).start()
    port = free_port()
    settings = Settings(
        base_url=f"http://127.0.0.1:{port}", data_dir=tmp / "data", keys_dir=tmp / "keys"
    )
    key = keys.generate_private_key()
    await seed(settings, rec_port, keys.public_pem(key))
    proc = _spawn(settings, port)
    try:
        await _listening(port)
        recorder.hold.set()
        await _post_replies(f"http://127.0.0.1:{port}", key, 0, 1)
        async with asyncio.timeout(30):
            while True:
                recorder.arrived.clear()  # before the check: no arrival is missed
                if recorder.held_paths:
                    break
                await recorder.arrived.wait()
        await asyncio.sleep(0.2)  # let the slow start fill its slots
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        in_flight = set(recorder.held_paths)
        recorder.hold.clear()
        recorder.released.set()
        started = time.perf_counter()
        proc = _spawn(settings, port)
        await _listening(port)
        listening = time.perf_counter() - started
        async with asyncio.timeout(180):
            while True:
                recorder.arrived.clear()
                if in_flight & set(recorder.delivered):
                    break
                await recorder.arrived.wait()
        first = min(recorder.delivered[p] for p in in_flight & set(recorder.delivered))
        return {
            "resumed_s": first - started,
            "listening_s": listening,
            "in_flight": float(len(in_flight)),
        }
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)
        await runner.cleanup()


async def measure(runs: int) -> dict[str, object]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="ff-recovery-") as tmp:
            result = await one_run(Path(tmp))
        print(
            f"  run: resumed {result['resumed_s']:.2f} s after the restart (listening after "
            f"{result['listening_s']:.2f} s; {result['in_flight']:.0f} in flight at the kill)",
            flush=True,
        )
        out.append(result)
    return {k: statistics.median(r[k] for r in out) for k in out[0]} | {"runs": out}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs))
    path = save("recovery", result)
    print(
        f"G7-recovery: kill -9 with deliveries in flight, restart: the first of them 2xx "
        f"{result['resumed_s']:.2f} s after the restart (median of {args.runs}; the server "
        f"listened after {result['listening_s']:.2f} s; the lease is 120 s)"
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
