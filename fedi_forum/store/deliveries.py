"""Store operations of the delivery queue (docs/delivery.md).

The queue is the ``deliveries`` table: one row per (activity, inbox). Order is kept per
*lane* — (inbox, subject), the activities about one object — so only the head of a
lane (its lowest pending id) is ever sent, and only while it holds a lease
(``locked_until``, ``lease_owner``): several worker processes never send the same row at
once and never reorder what one inbox gets about one object, while one stuck activity
no longer holds back everything else for that inbox. A worker that dies loses nothing:
its leases are reclaimed (store/workers.py) or run out, and the rows are claimed again
(at-least-once; receivers dedupe by activity id).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from fedi_forum.models import (
    DELIVERY_TRANSITIONS,
    DeliveryState,
    states_leading_to,
)
from fedi_forum.store.conn import Conn, Dialect
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    Outgoing,
    enqueue_all,
)

_COLS = (
    "id, activity_id, inbox, host, subject, payload, group_payload, signer, attempts, "
    "timeouts, created_at"
)


# What record_delivery is told: the row's new state ("retry" keeps it pending, "gone"
# makes it dead and ends its inbox's follows). States: models.DeliveryState.
# The two statements that differ by engine. SQLite: INDEXED BY reads lane heads oldest
# first from the partial index of pending rows, stopping early (its planner would sort
# every due row first); PostgreSQL's planner finds the index unasked. PostgreSQL runs
# several claimers at once (other processes, other hosts): FOR UPDATE SKIP LOCKED makes
# each pass over the rows another is leasing, where SQLite's single writer needs nothing.
_PENDING = {
    Dialect.SQLITE: "deliveries d INDEXED BY deliveries_pending",
    Dialect.POSTGRESQL: "deliveries d",
}
_QUEUE = {
    Dialect.SQLITE: "deliveries d INDEXED BY deliveries_queue",
    Dialect.POSTGRESQL: "deliveries d",
}
# PostgreSQL reads a few times what the claim may lease, then locks only the rows it
# chose (``_lock_chosen``).
_HEADS_WINDOW = {Dialect.SQLITE: "", Dialect.POSTGRESQL: " LIMIT {}"}
# PostgreSQL's planner, on a queue that grew faster than autovacuum's ANALYZE (one
# reply to 10,000 followers), estimates a few pending rows, sorts every due row and
# hashes the lanes: 61 ms a claim instead of 5 ms (bench/engines.py; EXPLAIN in
# docs/postgresql.md). Walking the pending index in id order and stopping at the window
# is the right plan at every size, so the heads query is told so, for itself only.
_PLANNER = ("enable_sort", "enable_bitmapscan", "enable_hashjoin")
_PLAN = {  # (before the heads query, after it): one round trip each (hot path)
    Dialect.SQLITE: ("", ""),
    Dialect.POSTGRESQL: tuple(
        "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name in _PLANNER)
        for value in ("off", "on")
    ),
}
LOCK_WINDOW = 4
_LOCK_ONE = {Dialect.SQLITE: "", Dialect.POSTGRESQL: " FOR UPDATE OF d SKIP LOCKED"}
OUTCOMES = frozenset({"delivered", "retry", "dead", "gone", "aside"})


_STATE_OF = {
    "delivered": DeliveryState.DELIVERED,
    "aside": DeliveryState.ASIDE,
    "dead": DeliveryState.DEAD,
    "gone": DeliveryState.DEAD,
}


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    activity_id: str
    inbox: str
    host: str
    subject: str
    payload: str
    group_payload: str | None
    signer: str
    attempts: int
    timeouts: int
    created_at: str


def _row(r: Sequence[Any]) -> DeliveryRow:
    return DeliveryRow(*r)


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """What one claim may lease: at most ``room[host]`` per host (0 pauses it); for a
    host not named, ``per_host`` if it has answered before, else ``start`` (slow start);
    at most ``limit`` in all, leased to ``owner`` until ``lease_until``. A server marked
    unavailable gets one probe per interval: none if probed after ``probe_before``."""

    now: str
    lease_until: str
    owner: str
    limit: int
    per_host: int
    start: int
    room: Mapping[str, int]
    probe_before: str


def _claim_heads(conn: Conn, claim: Claim) -> list[DeliveryRow]:
    """Lease the due heads of lanes within ``claim``'s limits and return them.

    Heads are read oldest first from the partial index of pending rows and capped per
    host here, stopping at ``limit``: a claim reads about as many rows as it leases,
    however long the queue (a window function over every lane head cost a full scan
    of the queue per claim, which halved throughput at 9,000 pending rows)."""
    paused = {
        r[0]
        for r in conn.execute(
            "SELECT host FROM instances WHERE unavailable_since IS NOT NULL "
            "AND coalesce(last_probe_at, '') > ?",
            (claim.probe_before,),
        )
    }
    left = dict(claim.room)
    ids: list[int] = []
    planned, reset = _PLAN[conn.dialect]
    if planned:
        conn.execute(planned)  # for this statement only: see _PLAN
    heads = conn.execute(
        f"SELECT d.id, d.host, i.last_seen_at IS NOT NULL FROM {_PENDING[conn.dialect]} "
        "LEFT JOIN instances i ON i.host = d.host "
        "WHERE d.state = 'pending' AND d.next_attempt_at <= ? "
        "AND (d.locked_until IS NULL OR d.locked_until < ?) "
        "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.state = 'pending' "
        "AND e.inbox = d.inbox AND e.subject = d.subject AND e.id < d.id) "
        f"ORDER BY d.id{_HEADS_WINDOW[conn.dialect].format(claim.limit * LOCK_WINDOW)}",
        (claim.now, claim.now),
    )
    for row_id, host, answered_before in heads:
        if host in paused:
            continue
        free = left.get(host)
        if free is None:
            free = claim.per_host if answered_before else claim.start
        if free <= 0:
            left[host] = 0
            continue
        left[host] = free - 1
        ids.append(row_id)
        if len(ids) >= claim.limit:
            break
    heads.close()
    if reset:  # the rest of the group commit plans as usual
        conn.execute(reset)
    if conn.dialect is Dialect.POSTGRESQL:
        ids = _lock_chosen(conn, ids, claim.now)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    claimed = conn.execute(
        f"UPDATE deliveries SET locked_until = ?, lease_owner = ? WHERE id IN ({marks}) "
        f"RETURNING {_COLS}",
        (claim.lease_until, claim.owner, *ids),
    ).fetchall()
    # a server marked unavailable gets one probe per interval
    conn.execute(
        f"UPDATE instances SET last_probe_at = ? WHERE unavailable_since IS NOT NULL AND host IN "
        f"(SELECT host FROM deliveries WHERE id IN ({marks}))",
        (claim.now, *ids),
    )
    return sorted((_row(r) for r in claimed), key=lambda d: d.id)


def _lock_chosen(conn: Conn, ids: list[int], now: str) -> list[int]:
    """PostgreSQL: lock the chosen lane heads, skipping those another claimer holds or
    has leased since the heads were read. Locking inside the heads query itself (FOR
    UPDATE over the join and its NOT EXISTS) made PostgreSQL re-evaluate the whole join
    for every row another worker had changed meanwhile: with three workers a claim ran
    for minutes of CPU (bench/engines.py found it). A chosen head stays a head: rows of
    its lane that are older can only leave the queue, never join it."""
    if not ids:
        return ids
    marks = ",".join("?" * len(ids))
    locked = conn.execute(
        f"SELECT id FROM deliveries WHERE id IN ({marks}) AND state = 'pending' "
        "AND (locked_until IS NULL OR locked_until < ?) FOR UPDATE SKIP LOCKED",
        (*ids, now),
    )
    free = {r[0] for r in locked}
    return [i for i in ids if i in free]


def _record_health(conn: Conn, host: str, *, ok: bool, now: str, unavailable_after: str) -> None:
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
        # instances.column: PostgreSQL finds a bare name ambiguous beside excluded.column
        "VALUES (?, 1, ?, ?) ON CONFLICT (host) DO UPDATE SET failures = instances.failures + 1, "
        "failing_since = coalesce(instances.failing_since, excluded.failing_since), "
        "last_failure_at = excluded.last_failure_at",
        (host, now, now),
    )
    conn.execute(
        "UPDATE instances SET unavailable_since = coalesce(unavailable_since, ?) "
        "WHERE host = ? AND failing_since < ?",
        (now, host, unavailable_after),
    )


class DeliveryStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def claim_deliveries(self, claim: Claim) -> list[DeliveryRow]:
        def write(conn: Conn) -> list[DeliveryRow]:
            return _claim_heads(conn, claim)

        return await self.db.write(write)

    async def record_delivery(
        self,
        row: DeliveryRow,
        *,
        outcome: str,
        status: int | None,
        error: str | None,
        next_attempt_at: str | None,
        now: str,
        lease_until: str,
        unavailable_after: str,
        owner: str,
        unanswered: bool = False,
    ) -> DeliveryRow | None:
        """Record one attempt and, after a success, lease in the same transaction the
        next due lane head of the same inbox (so a busy inbox drains without waiting for
        a claim cycle).

        ``outcome`` is one of ``OUTCOMES``: "gone" means the recipient no longer exists
        (its follows are removed and the rest of its queue is dropped); "aside" parks a
        row its server never answers (retried by hand). ``unanswered`` counts a timeout
        while the server answered other deliveries (what sets a row aside).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r}")

        def write(conn: Conn) -> DeliveryRow | None:
            timeouts = 1 if unanswered else 0
            # only a pending row is sent, so only a pending row records an attempt (one
            # that was given up meanwhile, e.g. its recipient gone, stays as it is)
            pending = DeliveryState.PENDING.value
            if outcome == "retry":
                conn.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, timeouts = timeouts + ?, "
                    "next_attempt_at = ?, locked_until = NULL, lease_owner = NULL, "
                    "last_status = ?, last_error = ? WHERE id = ? AND state = ?",
                    (timeouts, next_attempt_at, status, error, row.id, pending),
                )
            else:
                state = _STATE_OF[outcome]
                assert pending in states_leading_to(DELIVERY_TRANSITIONS, state)
                conn.execute(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1, "
                    "timeouts = timeouts + ?, locked_until = NULL, lease_owner = NULL, "
                    "last_status = ?, last_error = ? WHERE id = ? AND state = ?",
                    (state.value, timeouts, status, error, row.id, pending),
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
            _record_health(
                conn,
                row.host,
                ok=outcome == "delivered",
                now=now,
                unavailable_after=unavailable_after,
            )
            if outcome != "delivered":
                return None  # a failing inbox waits for its backoff; no eager next
            # The inbox's next lane head, if due and free: the server just answered, so
            # no health check is needed (an indexed lookup instead of the full claim).
            nxt = conn.execute(
                "UPDATE deliveries SET locked_until = ?, lease_owner = ? WHERE id = ("
                f"SELECT d.id FROM {_QUEUE[conn.dialect]} "
                "WHERE d.state = 'pending' AND d.inbox = ? "
                "AND d.next_attempt_at <= ? AND (d.locked_until IS NULL OR d.locked_until < ?) "
                "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.state = 'pending' "
                "AND e.inbox = d.inbox AND e.subject = d.subject AND e.id < d.id) "
                f"ORDER BY d.id LIMIT 1{_LOCK_ONE[conn.dialect]}) RETURNING {_COLS}",
                (lease_until, owner, row.inbox, now, now),
            ).fetchone()
            return None if nxt is None else _row(nxt)

        return await self.db.write(write)

    async def retry_deliveries(self, ids: Sequence[int] | None, now: str) -> int:
        """Send set-aside (or given up) rows again at once: the rows named, or every row
        set aside when ``ids`` is None. Returns how many were queued again."""

        before = states_leading_to(DELIVERY_TRANSITIONS, DeliveryState.PENDING)

        def write(conn: Conn) -> int:
            reset = (
                "UPDATE deliveries SET state = 'pending', timeouts = 0, next_attempt_at = ?, "
                "locked_until = NULL, lease_owner = NULL "
            )
            if ids is None:
                cur = conn.execute(reset + "WHERE state = ?", (now, DeliveryState.ASIDE.value))
            else:
                marks = ",".join("?" * len(ids))
                states = ",".join("?" * len(before))
                cur = conn.execute(
                    reset + f"WHERE state IN ({states}) AND id IN ({marks})",
                    (now, *before, *ids),
                )
            return cur.rowcount

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

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE deliveries SET locked_until = NULL, lease_owner = NULL "
                f"WHERE id IN ({marks})",
                ids,
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
        aside = await self.db.fetch_all(
            "SELECT id, activity_id, inbox, attempts, timeouts, last_error FROM deliveries "
            "WHERE state = 'aside' ORDER BY id DESC LIMIT 50",
            offload=True,
        )
        return {
            "states": {r[0]: r[1] for r in states},
            "aside": [dict(r) for r in aside],
            "oldest_pending": oldest[0] if oldest else None,
            "failing": [dict(r) for r in hosts],
            "pending_by_host": {r[0]: r[1] for r in pending_by_host},
        }

    async def queue(self, out: Outgoing, inboxes: list[str], now: str) -> None:
        """Queue one of our activities to some inboxes (e.g. a forwarded report)."""

        def write(conn: Conn) -> None:
            enqueue_all(conn, out, inboxes, now)

        await self.db.write(write)
