"""Store operations for running workers and the leases they hold (docs/delivery.md).

A lease (``locked_until`` + ``lease_owner`` on a delivery or backfill row) names the
worker holding it. Workers write a heartbeat every few seconds; a worker whose process
is provably gone (told by ``reclaim_leases``' caller, who can see its own machine's
processes) or whose heartbeat is stale loses its leases at once, so a restart after
``kill -9`` resumes within seconds instead of when the lease runs out. The lease time
stays the safety net for owners nobody can judge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine

# Tables whose rows carry leases.
_LEASED = ("deliveries", "backfills")  # fixed names, formatted into SQL


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerRow:
    id: str
    machine: str
    pid: int
    boot_id: str
    started_at: str
    heartbeat_at: str


class WorkerStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def heartbeat(self, worker: WorkerRow, now: str) -> None:
        """Register the worker or refresh its heartbeat (one upsert)."""

        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO workers (id, machine, pid, boot_id, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "heartbeat_at = excluded.heartbeat_at",
                (worker.id, worker.machine, worker.pid, worker.boot_id, worker.started_at, now),
            )

        await self.db.write(write)

    async def workers(self) -> list[WorkerRow]:
        rows = await self.db.fetch_all(
            "SELECT id, machine, pid, boot_id, started_at, heartbeat_at FROM workers ORDER BY id"
        )
        return [WorkerRow(*r) for r in rows]

    async def reclaim_leases(self, gone: Sequence[str], stale_before: str) -> int:
        """Free every lease held by the workers in ``gone`` or whose heartbeat is older
        than ``stale_before``, and forget those workers. Returns the rows freed."""

        def write(conn: Conn) -> int:
            owners = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM workers WHERE heartbeat_at < ? OR id IN "
                    f"({','.join('?' * len(gone)) or 'NULL'})",  # marks only; values bound
                    (stale_before, *gone),
                )
            ]
            if not owners:
                return 0
            marks = ",".join("?" * len(owners))
            freed = 0
            for table in _LEASED:
                freed += conn.execute(
                    f"UPDATE {table} SET locked_until = NULL, lease_owner = NULL "
                    f"WHERE lease_owner IN ({marks})",
                    owners,
                ).rowcount
            conn.execute(f"DELETE FROM workers WHERE id IN ({marks})", owners)
            return freed

        return await self.db.write(write)

    async def forget_worker(self, worker_id: str) -> None:
        """A worker stopping cleanly (after giving its leases back)."""

        def write(conn: Conn) -> None:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

        await self.db.write(write)
