"""Discussions on other servers that we follow, and their notes (``remote_groups``,
``remote_notes``). Positions are dense per group, so pages are ``BETWEEN`` ranges like
our own discussions' seqs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from fedi_forum.models import (
    BACKFILL_TRANSITIONS,
    REMOTE_FOLLOW_TRANSITIONS,
    BackfillState,
    NewNote,
    Note,
    RemoteActor,
    RemoteGroup,
    RemoteGroupState,
    is_newer_edit,
    states_leading_to,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import Outgoing, enqueue, upsert_actor
from fedi_forum.store.rows import note_from_row

# The group's name, summary and inbox come from its cached actor document (the summary
# read in Python: SQL's JSON functions differ by engine).
_GROUP_COLS = (
    "g.id, g.actor_id, g.handle, g.state, g.follow_activity_id, g.note_count, "
    "coalesce(a.name, a.preferred_username, g.handle), "
    "a.raw, "
    "coalesce(a.url, g.actor_id), coalesce(a.shared_inbox, a.inbox), "
    "g.created_at, g.updated_at, g.backfilled_at, b.state, coalesce(b.attempts, 0), "
    "b.last_error"
)
_GROUP_FROM = (
    "remote_groups g LEFT JOIN actors a ON a.id = g.actor_id "
    "LEFT JOIN backfills b ON b.group_id = g.id"
)
# Same names as the notes query of store.py, so one row → Note mapping serves both.
_NOTE_COLS = (
    "n.id, n.group_id AS discussion_id, n.position AS seq, n.ap_id, n.author_id, "
    "n.in_reply_to, n.in_reply_to_position AS in_reply_to_seq, n.content, n.summary, "
    "n.sensitive, n.lang, n.url, n.state, n.published, n.updated, 0 AS is_local, "
    "0 AS official, a.name AS a_name, a.preferred_username AS a_username, "
    "a.host AS a_host, a.url AS a_url, a.icon_url AS a_icon"
)
_NOTE_FROM = "remote_notes n LEFT JOIN actors a ON a.id = n.author_id"


def _summary(raw: str | None) -> str:
    """The actor document's summary when it is a string (attacker-controlled JSON)."""
    try:
        doc = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return ""
    summary = doc.get("summary") if isinstance(doc, dict) else None
    return summary if isinstance(summary, str) else ""


def _group(row: Sequence[Any]) -> RemoteGroup:
    return RemoteGroup(
        id=row[0],
        actor_id=row[1],
        handle=row[2],
        state=RemoteGroupState(row[3]),
        follow_activity_id=row[4],
        note_count=row[5],
        name=row[6],
        summary=_summary(row[7]),
        url=row[8],
        inbox=row[9],
        created_at=row[10],
        updated_at=row[11],
        backfilled_at=row[12],
        backfill_state=row[13],
        backfill_attempts=row[14],
        backfill_error=row[15],
    )


def _request_backfill(conn: Conn, group_id: int, now: str) -> None:
    """Queue (or queue again) reading a group's history. A job already running keeps
    its lease; it reads the whole collection anyway."""
    conn.execute(
        "INSERT INTO backfills (group_id, next_attempt_at, requested_at) VALUES (?, ?, ?) "
        "ON CONFLICT (group_id) DO UPDATE SET state = 'pending', attempts = 0, "
        "next_attempt_at = excluded.next_attempt_at, requested_at = excluded.requested_at, "
        "last_error = NULL",
        (group_id, now, now),
    )


def _group_by(conn: Conn, column: str, value: object) -> RemoteGroup | None:
    # column is one of our constants ("g.id", "g.actor_id"), never input
    row = conn.execute(
        f"SELECT {_GROUP_COLS} FROM {_GROUP_FROM} WHERE {column} = ?", (value,)
    ).fetchone()
    return None if row is None else _group(row)


def _link_replies(conn: Conn, group_id: int) -> None:
    """Point every note at its parent's position (parents may arrive after children)."""
    conn.execute(
        "UPDATE remote_notes SET in_reply_to_position = (SELECT p.position FROM remote_notes p "
        "WHERE p.group_id = remote_notes.group_id AND p.ap_id = remote_notes.in_reply_to) "
        "WHERE group_id = ? AND in_reply_to IS NOT NULL",
        (group_id,),
    )


class RemoteStore:
    db: Engine

    async def remote_group(self, actor_id: str) -> RemoteGroup | None:
        row = await self.db.fetch_one(
            f"SELECT {_GROUP_COLS} FROM {_GROUP_FROM} WHERE g.actor_id = ?", (actor_id,)
        )
        return None if row is None else _group(row)

    async def remote_group_by_id(self, group_id: int) -> RemoteGroup | None:
        row = await self.db.fetch_one(
            f"SELECT {_GROUP_COLS} FROM {_GROUP_FROM} WHERE g.id = ?", (group_id,)
        )
        return None if row is None else _group(row)

    async def remote_group_by_handle(self, handle: str) -> RemoteGroup | None:
        row = await self.db.fetch_one(
            f"SELECT {_GROUP_COLS} FROM {_GROUP_FROM} WHERE g.handle = ? ORDER BY g.id DESC",
            (handle.lower(),),
        )
        return None if row is None else _group(row)

    async def remote_groups(self, *states: RemoteGroupState) -> list[RemoteGroup]:
        wanted = [s.value for s in states] or [s.value for s in RemoteGroupState]
        marks = ",".join("?" * len(wanted))
        rows = await self.db.fetch_all(
            f"SELECT {_GROUP_COLS} FROM {_GROUP_FROM} WHERE g.state IN ({marks}) "
            "ORDER BY g.updated_at DESC",
            wanted,
        )
        return [_group(r) for r in rows]

    async def start_remote_follow(
        self, *, group: RemoteActor, handle: str, follow: Outgoing, inbox: str, now: str
    ) -> RemoteGroup:
        """Record the group (pending) and queue our Follow, in one transaction."""

        def write(conn: Conn) -> RemoteGroup:
            upsert_actor(conn, group)
            conn.execute(
                "INSERT INTO remote_groups (actor_id, handle, follow_activity_id, state, "
                "created_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?) "
                "ON CONFLICT (actor_id) DO UPDATE SET handle = excluded.handle, "
                "follow_activity_id = excluded.follow_activity_id, state = 'pending', "
                "updated_at = excluded.updated_at",
                (group.id, handle.lower(), follow.activity_id, now, now),
            )
            enqueue(conn, follow, inbox, now)
            found = _group_by(conn, "g.actor_id", group.id)
            assert found is not None
            return found

        return await self.db.write(write)

    async def end_remote_follow(
        self, *, group_id: int, undo: Outgoing, inbox: str | None, now: str
    ) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE remote_groups SET state = 'ended', updated_at = ? WHERE id = ?",
                (now, group_id),
            )
            if inbox is not None:
                enqueue(conn, undo, inbox, now)

        await self.db.write(write)

    async def answer_remote_follow(
        self, *, group_actor: str, follow_id: str | None, accepted: bool, now: str
    ) -> RemoteGroup | None:
        """The group's Accept/Reject of our Follow. Only our current Follow counts (an
        answer to an older one, or to nothing we sent, changes nothing)."""
        state = RemoteGroupState.ACCEPTED if accepted else RemoteGroupState.REJECTED
        before = states_leading_to(REMOTE_FOLLOW_TRANSITIONS, state)
        marks = ",".join("?" * len(before))

        def write(conn: Conn) -> RemoteGroup | None:
            cur = conn.execute(
                "UPDATE remote_groups SET state = ?, updated_at = ? WHERE actor_id = ? "
                f"AND state IN ({marks}) "
                # CAST: PostgreSQL must know a parameter's type to test it for NULL
                "AND (CAST(? AS TEXT) IS NULL OR follow_activity_id = ?) RETURNING id",
                (state.value, now, group_actor, *before, follow_id, follow_id),
            ).fetchone()
            if cur is None:
                return None
            if accepted:  # reading the history is queued with the answer: never lost
                _request_backfill(conn, cur[0], now)
            return _group_by(conn, "g.id", cur[0])

        return await self.db.write(write)

    async def claim_backfill(self, *, now: str, lease_until: str, owner: str) -> int | None:
        """Lease the oldest due backfill job of a group still accepted; its group id."""

        def write(conn: Conn) -> int | None:
            row = conn.execute(
                "UPDATE backfills SET locked_until = ?, lease_owner = ? WHERE group_id = ("
                "SELECT b.group_id FROM backfills b JOIN remote_groups g ON g.id = b.group_id "
                "WHERE b.state = 'pending' AND g.state = 'accepted' AND b.next_attempt_at <= ? "
                "AND (b.locked_until IS NULL OR b.locked_until < ?) "
                "ORDER BY b.next_attempt_at LIMIT 1) RETURNING group_id",
                (lease_until, owner, now, now),
            ).fetchone()
            return None if row is None else int(row[0])

        return await self.db.write(write)

    async def record_backfill(
        self,
        group_id: int,
        *,
        added: int,
        error: str | None,
        next_attempt_at: str | None,
        now: str,
    ) -> None:
        """One run of a job: done (``error`` None), retried at ``next_attempt_at``, or
        failed for good (neither)."""

        # only a running (pending) job ends; the states come from BACKFILL_TRANSITIONS
        (running,) = states_leading_to(BACKFILL_TRANSITIONS, BackfillState.DONE)

        def write(conn: Conn) -> None:
            if error is None:
                conn.execute(
                    "UPDATE backfills SET state = ?, added = ?, finished_at = ?, "
                    "last_error = NULL, locked_until = NULL, lease_owner = NULL "
                    "WHERE group_id = ? AND state = ?",
                    (BackfillState.DONE.value, added, now, group_id, running),
                )
                return
            state = BackfillState.PENDING if next_attempt_at else BackfillState.FAILED
            conn.execute(
                "UPDATE backfills SET state = ?, attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = coalesce(?, next_attempt_at), finished_at = ?, "
                "locked_until = NULL, lease_owner = NULL WHERE group_id = ? AND state = ?",
                (
                    state.value,
                    error[:500],
                    next_attempt_at,
                    None if next_attempt_at else now,
                    group_id,
                    running,
                ),
            )

        await self.db.write(write)

    async def release_backfills(self, owner: str) -> None:
        """Give back this worker's leases (a clean stop)."""

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE backfills SET locked_until = NULL, lease_owner = NULL "
                "WHERE lease_owner = ?",
                (owner,),
            )

        await self.db.write(write)

    async def add_remote_notes(
        self, group_id: int, notes: Sequence[NewNote], authors: Sequence[RemoteActor], now: str
    ) -> int:
        """Append notes (oldest first) after the group's last one; known ids are skipped.
        Returns how many were new."""

        def write(conn: Conn) -> int:
            for author in authors:
                upsert_actor(conn, author)
            added = 0
            for note in notes:
                cur = conn.execute(
                    "INSERT INTO remote_notes (group_id, position, ap_id, author_id, "
                    "in_reply_to, content, summary, sensitive, lang, url, published, updated, "
                    "received_at) SELECT ?, coalesce(max(position), -1) + 1, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ? FROM remote_notes WHERE group_id = ? "
                    "ON CONFLICT (group_id, ap_id) DO NOTHING",
                    (
                        group_id,
                        note.ap_id,
                        note.author_id,
                        note.in_reply_to,
                        note.content,
                        note.summary,
                        int(note.sensitive),
                        note.lang,
                        note.url,
                        note.published,
                        note.updated,
                        now,
                        group_id,
                    ),
                )
                added += cur.rowcount
            if added:
                _link_replies(conn, group_id)
                conn.execute(
                    "UPDATE remote_groups SET note_count = note_count + ?, updated_at = ? "
                    "WHERE id = ?",
                    (added, now, group_id),
                )
            return added

        return await self.db.write(write)

    async def order_remote_notes(self, group_id: int, ordered: Sequence[str], now: str) -> None:
        """Put the notes in the group's own order (its context collection, oldest first);
        notes it did not list keep their relative order after those it did."""

        def write(conn: Conn) -> None:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_order (ap_id TEXT, n INTEGER)")
            conn.execute("DELETE FROM wanted_order")
            conn.executemany(
                "INSERT INTO wanted_order VALUES (?, ?)", [(a, i) for i, a in enumerate(ordered)]
            )
            # rank: listed ones by their place in the listing, the rest after, by position
            conn.execute(
                "WITH ranked AS (SELECT n.id, row_number() OVER (ORDER BY w.n IS NULL, w.n, "
                "n.position) - 1 AS pos FROM remote_notes n LEFT JOIN "
                "(SELECT ap_id, min(n) AS n FROM wanted_order GROUP BY ap_id) w "
                "ON w.ap_id = n.ap_id WHERE n.group_id = ?) "
                "UPDATE remote_notes SET position = (SELECT pos FROM ranked "
                "WHERE ranked.id = remote_notes.id) WHERE group_id = ?",
                (group_id, group_id),
            )
            conn.execute("DELETE FROM wanted_order")
            _link_replies(conn, group_id)
            conn.execute(
                "UPDATE remote_groups SET backfilled_at = ?, updated_at = ? WHERE id = ?",
                (now, now, group_id),
            )

        await self.db.write(write)

    async def update_remote_note(self, group_id: int, note: NewNote) -> bool:
        """A newer version of a note we hold (older or equal ``updated`` changes nothing)."""

        def write(conn: Conn) -> bool:
            row = conn.execute(
                "SELECT id, updated FROM remote_notes WHERE group_id = ? AND ap_id = ? "
                "AND state = 'visible'",
                (group_id, note.ap_id),
            ).fetchone()
            if row is None or note.updated is None or not is_newer_edit(note.updated, row[1]):
                return False
            conn.execute(
                "UPDATE remote_notes SET content = ?, summary = ?, sensitive = ?, updated = ? "
                "WHERE id = ?",
                (note.content, note.summary, int(note.sensitive), note.updated, row[0]),
            )
            return True

        return await self.db.write(write)

    async def remove_remote_note(self, group_id: int, ap_id: str, now: str) -> bool:
        """Deleted by its author or removed by the group's moderators: its place stays."""

        def write(conn: Conn) -> bool:
            cur = conn.execute(
                "UPDATE remote_notes SET state = 'deleted', content = '', summary = NULL, "
                "updated = ? WHERE group_id = ? AND ap_id = ? AND state != 'deleted'",
                (now, group_id, ap_id),
            )
            return cur.rowcount == 1

        return await self.db.write(write)

    async def remote_note_ids(self, group_id: int, ap_ids: Sequence[str]) -> set[str]:
        """Which of these ids we already hold for the group."""
        if not ap_ids:
            return set()
        marks = ",".join("?" * len(ap_ids))
        rows = await self.db.fetch_all(
            f"SELECT ap_id FROM remote_notes WHERE group_id = ? AND ap_id IN ({marks})",
            [group_id, *ap_ids],
        )
        return {r[0] for r in rows}

    async def remote_notes_page(self, group_id: int, first: int, last: int) -> list[Note]:
        rows = await self.db.fetch_all(
            f"SELECT {_NOTE_COLS} FROM {_NOTE_FROM} WHERE n.group_id = ? "
            "AND n.position BETWEEN ? AND ? ORDER BY n.position",
            (group_id, first, last),
        )
        return [note_from_row(r) for r in rows]
