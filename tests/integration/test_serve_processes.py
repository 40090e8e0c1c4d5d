"""`serve --workers N` on Linux: a listening socket per process (cli/processes.py), so
that connections opened together are spread over the processes, not left to the first
one awake."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fedi_forum.cli import processes
from tests.support.live import bind_loopback
from tests.support.process import Served, clean_env, serve

pytestmark = pytest.mark.skipif(
    not processes.spreads_connections(), reason="SO_REUSEPORT spreads connections on Linux only"
)


def _port(served: Served) -> int:
    return int(served.base.rsplit(":", 1)[1])


def _listeners(port: int) -> dict[str, int]:
    """inode -> owning pid of each socket listening on ``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(fields[9])
    owners: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                inode = target.removeprefix("socket:[").removesuffix("]")
                if inode in inodes:
                    owners[inode] = int(pid)
        except OSError:
            continue  # gone, or not ours to read
    return owners


def _connection_owners(port: int, count: int) -> collections.Counter[int]:
    """Open ``count`` connections at once and keep them: how many each server process
    holds (read from /proc)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    try:
        time.sleep(0.3)  # every connection accepted by now
        by_pid: collections.Counter[int] = collections.Counter()
        listeners = set(_listeners(port).values())
        server_side = _server_side_pids(port, listeners)
        for sock in socks:
            by_pid[server_side[sock.getsockname()[1]]] += 1
        return by_pid
    finally:
        for sock in socks:
            sock.close()


def _server_side_pids(port: int, pids: set[int]) -> dict[int, int]:
    """client port -> pid of the server process holding that connection."""
    inode_of: dict[str, int] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if fields[3] == "01" and int(local.rsplit(":", 1)[1], 16) == port:  # ESTABLISHED
            inode_of[fields[9]] = int(remote.rsplit(":", 1)[1], 16)
    out: dict[int, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with_inode = os.readlink(f"/proc/{pid}/fd/{fd}")
            inode = with_inode.removeprefix("socket:[").removesuffix("]")
            if inode in inode_of:
                out[inode_of[inode]] = pid
    return out


@contextlib.contextmanager
def _two_processes(tmp_path: Path) -> Iterator[Served]:
    """`serve --workers 2`, once both processes listen (or 20 s)."""
    with serve(
        "--workers", "2", "--no-access-log", "--data-dir", str(tmp_path / "d"),
        "--keys-dir", str(tmp_path / "k"),
    ) as served:  # fmt: skip
        deadline = time.monotonic() + 20
        while len(_listeners(_port(served))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield served


def test_each_process_listens_on_its_own_socket_and_gets_its_share(tmp_path: Path) -> None:
    with _two_processes(tmp_path) as served:
        port = _port(served)
        owners = _listeners(port)
        # two sockets, two processes (uvicorn's --workers: one socket, shared)
        assert len(owners) == 2, owners
        assert len(set(owners.values())) == 2, owners
        assert served.proc.pid not in owners.values()  # the supervisor only supervises
        # 64 connections opened together land on both (a hash: 32 +- 4; the shared
        # socket gave splits up to 60/4)
        spread = _connection_owners(port, 64)
        assert set(spread) == set(owners.values()), spread
        assert min(spread.values()) >= 16, spread
        assert httpx.get(f"{served.base}/healthz").status_code == 200


def test_a_process_that_dies_is_replaced_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    with _two_processes(tmp_path) as served:
        port = _port(served)
        first = set(_listeners(port).values())
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        now = first
        while time.monotonic() < deadline:
            now = set(_listeners(port).values())
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2, now
        assert victim not in now
        assert httpx.get(f"{served.base}/healthz").status_code == 200
        children = now
    # serve() sent SIGTERM to the supervisor and waited for it
    time.sleep(0.5)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    zombies = [pid for pid in alive if "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    assert alive == zombies, alive  # no server process outlives its supervisor


def test_a_taken_port_is_an_error_at_once(tmp_path: Path) -> None:
    """Even when what holds it is another server's reuse group (a second `serve`
    started by mistake): joining it would silently split the traffic with it."""
    probe = bind_loopback()
    free = probe.getsockname()[1]
    probe.close()
    taken = processes.listening_socket("127.0.0.1", free)  # SO_REUSEPORT, as serve's
    taken.listen()
    port = free
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "fedi_forum", "serve", "--workers", "2", "--port",
                str(port), "--data-dir", str(tmp_path / "d"), "--keys-dir", str(tmp_path / "k"),
            ],
            capture_output=True, text=True, timeout=60, env=clean_env(), check=False,
        )  # fmt: skip
    finally:
        taken.close()
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving" not in done.stdout  # it never said it serves
