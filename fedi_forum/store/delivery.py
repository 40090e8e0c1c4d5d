"""Store operations of the delivery queue.

The queue is the ``deliveries`` table: one row per (activity, inbox), FIFO per inbox.
Only the *head* of an inbox's queue (its lowest pending id) is ever sent, and only while
it holds a lease (``locked_until``), so several worker processes never send the same
row at once and never reorder an inbox's deliveries. A worker that dies loses nothing:
its leases run out and the rows are claimed again (at-least-once; receivers dedupe by
activity id).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from fedi_forum.store.db import Database

_COLS = "id, activity_id, inbox, host, payload, group_payload, signer, attempts, created_at"


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    activity_id: str
    inbox: str
    host: str
    payload: str
    group_payload: str | None
    signer: str
    attempts: int
    created_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceInfo:
    host: str
    software: str | None
    dialect: str | None  # "microblog" | "group"
    dialect_override: str | None
    nodeinfo_fetched_at: str | None
    signature_spec: str | None = None  # "cavage" | "rfc9421": what it accepted last
    version: str | None = None


def _row(r: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(*r)


def _claim_heads(
    conn: sqlite3.Connection, *, now: str, lease_until: str, limit: int, per_host: int,
    busy_inboxes: Sequence[str], probe_before: str,
) -> list[DeliveryRow]:  # fmt: skip
    """Lease the due heads of inbox queues and return them."""
    rows = conn.execute(
        """
        WITH heads AS (
            SELECT min(id) AS id FROM deliveries WHERE state = 'pending'
            GROUP BY inbox
        ), due AS (
            SELECT d.id, d.host, ROW_NUMBER() OVER (PARTITION BY d.host ORDER BY d.id) AS rn
            FROM heads JOIN deliveries d ON d.id = heads.id
            WHERE d.next_attempt_at <= :now
              AND (d.locked_until IS NULL OR d.locked_until < :now)
              AND d.inbox NOT IN (SELECT value FROM json_each(:busy))
              AND d.host NOT IN (
                  SELECT host FROM instances WHERE unavailable_since IS NOT NULL
                  AND coalesce(last_probe_at, '') > :probe_before)
        )
        SELECT id FROM due WHERE rn <= :per_host ORDER BY id LIMIT :limit
        """,
        {"now": now, "busy": orjson.dumps(list(busy_inboxes)).decode(),
         "probe_before": probe_before, "per_host": per_host, "limit": limit},
    ).fetchall()  # fmt: skip
    if not rows:
        return []
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    claimed = conn.execute(
        f"UPDATE deliveries SET locked_until = ? WHERE id IN ({marks}) RETURNING {_COLS}",
        (lease_until, *ids),
    ).fetchall()
    # a server marked unavailable gets one probe per interval
    conn.execute(
        f"UPDATE instances SET last_probe_at = ? WHERE unavailable_since IS NOT NULL AND host IN "
        f"(SELECT host FROM deliveries WHERE id IN ({marks}))",
        (now, *ids),
    )
    return sorted((_row(r) for r in claimed), key=lambda d: d.id)


class DeliveryStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Database

    async def claim_deliveries(
        self, *, now: str, lease_until: str, limit: int, per_host: int,
        busy_inboxes: Sequence[str], probe_before: str,
    ) -> list[DeliveryRow]:  # fmt: skip
        def write(conn: sqlite3.Connection) -> list[DeliveryRow]:
            return _claim_heads(
                conn, now=now, lease_until=lease_until, limit=limit, per_host=per_host,
                busy_inboxes=busy_inboxes, probe_before=probe_before,
            )  # fmt: skip

        return await self.db.write(write)

    async def record_delivery(
        self, row: DeliveryRow, *, outcome: str, status: int | None, error: str | None,
        next_attempt_at: str | None, now: str, lease_until: str, unavailable_after: str,
    ) -> DeliveryRow | None:  # fmt: skip
        """Record one attempt and, in the same transaction, lease the next due row of the
        same inbox (so a busy inbox's queue drains without waiting for a claim cycle).

        ``outcome``: "delivered", "retry", "dead" or "gone" (the recipient no longer
        exists: its follows are removed and the rest of its queue is dropped).
        """

        def write(conn: sqlite3.Connection) -> DeliveryRow | None:
            if outcome == "retry":
                conn.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ?, "
                    "locked_until = NULL, last_status = ?, last_error = ? WHERE id = ?",
                    (next_attempt_at, status, error, row.id),
                )
            else:
                state = "delivered" if outcome == "delivered" else "dead"
                conn.execute(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                    "locked_until = NULL, last_status = ?, last_error = ? WHERE id = ?",
                    (state, status, error, row.id),
                )
            if outcome == "gone":
                conn.execute(
                    "DELETE FROM follows WHERE inbox = ? OR shared_inbox = ?",
                    (row.inbox, row.inbox),
                )
                conn.execute(
                    "UPDATE deliveries SET state = 'dead', last_error = 'recipient gone' "
                    "WHERE inbox = ? AND state = 'pending'",
                    (row.inbox,),
                )
            _record_health(conn, row.host, ok=outcome == "delivered", now=now,
                           unavailable_after=unavailable_after)  # fmt: skip
            if outcome != "delivered":
                return None  # a failing inbox waits for its backoff; no eager next
            # The inbox's next row, if due and free: the server just answered, so no
            # health check is needed (one indexed lookup instead of the full claim).
            nxt = conn.execute(
                f"UPDATE deliveries SET locked_until = ? WHERE id = (SELECT min(id) FROM "
                "deliveries WHERE state = 'pending' AND inbox = ?) AND next_attempt_at <= ? "
                f"AND (locked_until IS NULL OR locked_until < ?) RETURNING {_COLS}",
                (lease_until, row.inbox, now, now),
            ).fetchone()
            return None if nxt is None else _row(nxt)

        return await self.db.write(write)

    async def has_due_deliveries(self, now: str) -> bool:
        row = await self.db.fetch_one(
            "SELECT 1 FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? LIMIT 1",
            (now,),
        )
        return row is not None

    async def release_deliveries(self, ids: Sequence[int]) -> None:
        """Give leases back (a worker stopping cleanly)."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(f"UPDATE deliveries SET locked_until = NULL WHERE id IN ({marks})", ids)

        await self.db.write(write)

    async def instance(self, host: str) -> InstanceInfo | None:
        row = await self.db.fetch_one(
            "SELECT host, software, dialect, dialect_override, nodeinfo_fetched_at, "
            "signature_spec, version FROM instances WHERE host = ?",
            (host,),
        )
        return None if row is None else InstanceInfo(*row)

    async def set_instance_software(
        self, host: str, *, software: str | None, version: str | None, dialect: str, now: str
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO instances (host, software, version, dialect, nodeinfo_fetched_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET "
                "software = excluded.software, version = excluded.version, "
                "dialect = excluded.dialect, nodeinfo_fetched_at = excluded.nodeinfo_fetched_at",
                (host, software, version, dialect, now),
            )

        await self.db.write(write)

    async def set_signature_spec(self, host: str, spec: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO instances (host, signature_spec) VALUES (?, ?) "
                "ON CONFLICT (host) DO UPDATE SET signature_spec = excluded.signature_spec",
                (host, spec),
            )

        await self.db.write(write)

    async def set_dialect_override(self, host: str, dialect: str | None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO instances (host, dialect_override) VALUES (?, ?) "
                "ON CONFLICT (host) DO UPDATE SET dialect_override = excluded.dialect_override",
                (host, dialect),
            )

        await self.db.write(write)

    async def delivery_report(self) -> dict[str, Any]:
        """For `fedi-forum deliveries`: counts, failing servers, the oldest pending."""
        states = await self.db.fetch_all(
            "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state", offload=True
        )
        oldest = await self.db.fetch_one(
            "SELECT min(created_at) FROM deliveries WHERE state = 'pending'", offload=True
        )
        hosts = await self.db.fetch_all(
            "SELECT host, failures, failing_since, unavailable_since, software, "
            "coalesce(dialect_override, dialect) FROM instances "
            "WHERE failures > 0 ORDER BY failures DESC LIMIT 20",
            offload=True,
        )
        pending_by_host = await self.db.fetch_all(
            "SELECT host, count(*) FROM deliveries WHERE state = 'pending' GROUP BY host "
            "ORDER BY count(*) DESC LIMIT 20",
            offload=True,
        )
        return {
            "states": {r[0]: r[1] for r in states},
            "oldest_pending": oldest[0] if oldest else None,
            "failing": [dict(r) for r in hosts],
            "pending_by_host": {r[0]: r[1] for r in pending_by_host},
        }


def _record_health(
    conn: sqlite3.Connection, host: str, *, ok: bool, now: str, unavailable_after: str
) -> None:
    if ok:
        conn.execute(
            "UPDATE instances SET failures = 0, failing_since = NULL, unavailable_since = NULL, "
            "last_seen_at = ? WHERE host = ? AND (failures > 0 OR unavailable_since IS NOT NULL "
            "OR last_seen_at IS NULL OR last_seen_at < ?)",
            (now, host, now[:13]),  # last_seen_at is refreshed at most hourly
        )
        return
    conn.execute(
        "INSERT INTO instances (host, failures, failing_since, last_failure_at) "
        "VALUES (?, 1, ?, ?) ON CONFLICT (host) DO UPDATE SET failures = failures + 1, "
        "failing_since = coalesce(failing_since, excluded.failing_since), "
        "last_failure_at = excluded.last_failure_at",
        (host, now, now),
    )
    conn.execute(
        "UPDATE instances SET unavailable_since = coalesce(unavailable_since, ?) "
        "WHERE host = ? AND failing_since < ?",
        (now, host, unavailable_after),
    )


def mark_alive(conn: sqlite3.Connection, host: str) -> None:
    """A server we marked unavailable sent us something: try it again."""
    conn.execute(
        "UPDATE instances SET unavailable_since = NULL, failing_since = NULL, failures = 0 "
        "WHERE host = ? AND unavailable_since IS NOT NULL",
        (host,),
    )
