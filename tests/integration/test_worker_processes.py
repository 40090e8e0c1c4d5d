"""Delivery across real processes: `kill -9` in the middle of a fan-out loses nothing,
and several `fedi-forum worker` processes on one database never send a row twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.live import bind_loopback
from tests.support.process import CREATE_PARK
from tests.support.remote import RemoteServer

pytest_plugins: list[str] = []


def _port() -> int:
    sock = bind_loopback()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _spawn(tmp_path: Path, *args: str, lease: int = 5) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FEDI_FORUM_DELIVERY_LEASE_SECONDS": str(lease),
        "FEDI_FORUM_ALLOW_LOOPBACK": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedi_forum",
            *args,
            "--data-dir",
            str(tmp_path / "data"),
            "--keys-dir",
            str(tmp_path / "keys"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _serve(tmp_path: Path, port: int, *extra: str, lease: int = 5) -> subprocess.Popen[bytes]:
    proc = _spawn(
        tmp_path, "serve", "--port", str(port), "--log-level", "warning", *extra, lease=lease
    )
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(f"http://127.0.0.1:{port}/.well-known/nodeinfo")
                return proc
            except httpx.TransportError:
                assert proc.poll() is None, "server died"
                await asyncio.sleep(0.05)
    raise AssertionError("server did not start")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=20)


async def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "fedi_forum",
            *args,
            "--data-dir",
            str(tmp_path / "data"),
            "--keys-dir",
            str(tmp_path / "keys"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )


def _announced(remote: RemoteServer) -> list[str]:
    return [d["object"] for _, _, d in remote.delivered if d["type"] == "Announce"]


async def _new_forum(tmp_path: Path) -> tuple[int, str]:
    """A data directory with discussion `park`, for a server on a free port."""
    port = _port()
    base = f"http://127.0.0.1:{port}"
    created = await _cli(
        tmp_path,
        *CREATE_PARK,
        "--base-url",
        base,
    )
    assert created.returncode == 0, created.stderr
    return port, base


async def _wait(predicate, seconds: float) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_kill_9_mid_fanout_loses_nothing(tmp_path: Path, remote: RemoteServer) -> None:
    port, base = await _new_forum(tmp_path)
    server = await _serve(tmp_path, port, lease=120)
    try:
        group = f"{base}/d/park"
        alice = remote.actor("alice")
        async with httpx.AsyncClient() as client:
            await alice.post(client, f"{group}/inbox", alice.activity("Follow", group))
            await _wait(lambda: remote.delivered, 10)
            remote.hang_on.add("/announce")  # every Announce stays in flight
            notes = [alice.note(f"n{i}", in_reply_to=f"{group}/m/0") for i in range(6)]
            for note in notes:
                r = await alice.post(client, f"{group}/inbox", alice.create(note))
                assert r.status_code == 202

            def in_flight() -> bool:
                return sum(b"/announce" in body for _, _, body in remote.received) >= 2

            await _wait(in_flight, 10)
        # Given deliveries in flight (leased by the server), when it is killed...
        _stop(server, signal.SIGKILL)
        remote.hang_on.clear()
        assert _announced(remote) == []
        # ...then a new process delivers the rest: at once, though the leases (120 s) of
        # the dead one have not run out — it is provably gone (docs/delivery.md)
        restarted = asyncio.get_running_loop().time()
        server = await _serve(tmp_path, port, lease=120)
        await _wait(lambda: len(set(_announced(remote))) == 6, 40)
        took = asyncio.get_running_loop().time() - restarted
        assert took < 8, f"resumed after {took:.1f} s"
        assert sorted(set(_announced(remote))) == sorted(n["id"] for n in notes)
        assert remote.rejected == [] or all("Connect" in r for r in remote.rejected)
    finally:
        _stop(server)


async def test_several_workers_never_send_a_row_twice(tmp_path: Path, remote: RemoteServer) -> None:
    port, base = await _new_forum(tmp_path)
    server = await _serve(tmp_path, port, "--no-worker")
    workers = [_spawn(tmp_path, "worker", "--log-level", "warning") for _ in range(2)]
    try:
        group = f"{base}/d/park"
        followers = [remote.actor(f"f{i}", key_index=i % 3) for i in range(3)]
        remote.inbox_delay = 0.2  # deliveries stay in flight long enough to be seen
        owners: set[str] = set()
        db = sqlite3.connect(tmp_path / "data" / "fedi-forum.sqlite3")

        def watch() -> bool:  # which workers hold leases at this moment
            rows = db.execute(
                "SELECT DISTINCT lease_owner FROM deliveries WHERE state = 'pending' "
                "AND lease_owner IS NOT NULL"
            ).fetchall()
            owners.update(r[0] for r in rows)
            return len(_announced(remote)) >= 15

        async with httpx.AsyncClient() as client:
            for f in followers:
                await f.post(client, f"{group}/inbox", f.activity("Follow", group))
            notes = [followers[0].note(f"n{i}", in_reply_to=f"{group}/m/0") for i in range(15)]
            for note in notes:
                await followers[0].post(client, f"{group}/inbox", followers[0].create(note))
        await _wait(watch, 30)
        db.close()
        assert len(owners) == 2, owners  # both worker processes were sending
        await asyncio.sleep(1.5)  # anything sent twice would show up now
        announced = _announced(remote)
        assert sorted(announced) == sorted(n["id"] for n in notes)  # each exactly once
        accepts = [d for _, _, d in remote.delivered if d["type"] == "Accept"]
        assert len(accepts) == 3
        report = (await _cli(tmp_path, "deliveries")).stdout
        assert "delivered 18" in report
        assert "oldest pending: -" in report
    finally:
        for w in workers:
            _stop(w)
        _stop(server)
