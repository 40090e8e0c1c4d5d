"""Who holds a lease, and whether that process still exists (docs/delivery.md).

A worker is named ``machine:pid:start`` where ``start`` is the process's start time in
clock ticks since boot (``/proc/PID/stat`` field 22): a pid reused by another process —
routine in containers, where the server is pid 1 on every start — has another start
time, so a restarted worker never mistakes its dead predecessor for itself. On the same
machine (same host name and boot id) a worker can prove another one gone; elsewhere only
a stale heartbeat can.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedi_forum.store.workers import WorkerRow, WorkerStore

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0  # a heartbeat this old frees the worker's leases

_PROC = Path("/proc")


def boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` in ticks since boot; None when there is no such process
    (or no /proc to ask)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm (field 2) may hold spaces and parentheses: count from the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def this_worker(now: str) -> WorkerRow:
    pid = os.getpid()
    machine = socket.gethostname()
    start = process_start(pid) or now
    return WorkerRow(f"{machine}:{pid}:{start}", machine, pid, boot_id(), now, now)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def gone(workers: Iterable[WorkerRow], me: WorkerRow) -> list[str]:
    """The workers in ``workers`` that provably no longer run: on this machine, from an
    earlier boot, or whose process is gone or is now another process."""
    dead = []
    for worker in workers:
        if worker.id == me.id or worker.machine != me.machine:
            continue
        if worker.boot_id != me.boot_id:
            dead.append(worker.id)
            continue
        start = worker.id.rsplit(":", 1)[-1]
        now_start = process_start(worker.pid)
        if now_start is None:
            if not (_PROC / "self").exists() and _alive(worker.pid):
                continue  # no /proc: a living pid is given the benefit of the doubt
            dead.append(worker.id)
        elif now_start != start:
            dead.append(worker.id)  # the pid now belongs to another process
    return dead


def _stamp(moment: datetime) -> str:
    # fixed width (always microseconds): heartbeats are compared as strings in SQL
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def beat(store: WorkerStore, me: WorkerRow) -> int:
    """Heartbeat for ``me``, and free the leases of workers that are gone (provably, or
    by a stale heartbeat). Returns the rows freed."""
    now = datetime.now(UTC)
    await store.heartbeat(me, _stamp(now))
    dead = gone(await store.workers(), me)
    return await store.reclaim_leases(dead, _stamp(now - timedelta(seconds=STALE_SECONDS)))
