"""Store operations for received activities (the inbox) and the deliveries they cause.

Every method is ONE transaction in the group commit: the dedupe mark of the activity,
its effects and the deliveries it queues commit together or not at all, so "202 after
durably stored" holds and a crash can neither lose a reply nor send for a reply that
was not stored.
"""

from __future__ import annotations

import dataclasses
import enum
import sqlite3
from collections.abc import Sequence
from typing import Any

from fedi_forum.models import NewNote, RemoteActor, is_newer_edit
from fedi_forum.store.db import Database
from fedi_forum.store.primitives import (
    ACTOR_COLS,
    AnnounceBuilder,
    FollowUpBuilder,
    Outgoing,
    actor_from_row,
    add_to_outbox,
    append_note,
    bump_revision,
    enqueue,
    enqueue_followers,
    mark_seen,
    queue_follow_up,
    remember_tombstone,
    tombstone_note,
    upsert_actor,
    upsert_follower,
)


class ReplyStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    HELD = "held"  # waits for a moderator (pre-moderation)
    CLOSED = "closed"  # the discussion takes no replies
    UNKNOWN = "unknown"  # no such discussion (or deleted)


@dataclasses.dataclass(frozen=True, slots=True)
class ReplyResult:
    status: ReplyStatus
    seqs: tuple[int, ...] = ()


class DeleteResult(enum.StrEnum):
    DELETED = "deleted"
    REMEMBERED = "remembered"  # before its Create: a later Create is refused
    NOT_AUTHOR = "not-author"
    DUPLICATE = "duplicate"


class UndoResult(enum.StrEnum):
    FOLLOW = "follow"
    REACTION = "reaction"
    NOTHING = "nothing"
    DUPLICATE = "duplicate"


class ActivityStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Database

    # -- reads ---------------------------------------------------------------------------

    async def actor(self, actor_id: str) -> RemoteActor | None:
        row = await self.db.fetch_one(f"SELECT {ACTOR_COLS} FROM actors WHERE id = ?", (actor_id,))
        return None if row is None else actor_from_row(row)

    async def actor_by_key_id(self, key_id: str) -> RemoteActor | None:
        row = await self.db.fetch_one(
            f"SELECT {ACTOR_COLS} FROM actors WHERE key_id = ? AND state = 'active'", (key_id,)
        )
        return None if row is None else actor_from_row(row)

    async def note_location(self, ap_id: str) -> tuple[str, int] | None:
        """(discussion slug, seq) of a note we hold, by its ActivityPub id."""
        row = await self.db.fetch_one(
            "SELECT d.slug, n.seq FROM notes n JOIN discussions d ON d.id = n.discussion_id "
            "WHERE n.ap_id = ?",
            (ap_id,),
        )
        return None if row is None else (str(row[0]), int(row[1]))

    async def local_note(self, ap_id: str) -> tuple[str, int, bytes | None, str] | None:
        """(slug, seq, stored JSON, state) of one of our own notes, by its id."""
        row = await self.db.fetch_one(
            "SELECT d.slug, n.seq, n.raw, n.state FROM notes n "
            "JOIN discussions d ON d.id = n.discussion_id WHERE n.ap_id = ? AND n.is_local = 1",
            (ap_id,),
        )
        if row is None:
            return None
        return str(row[0]), int(row[1]), str(row[2]).encode() if row[2] else None, str(row[3])

    async def blocks(self) -> tuple[list[str], list[str]]:
        rows = await self.db.fetch_all("SELECT kind, value FROM blocks")
        domains = [r[1] for r in rows if r[0] == "domain"]
        actors = [r[1] for r in rows if r[0] == "actor"]
        return domains, actors

    async def reports(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT source, activity_id, reporter, discussion_id, note_ids, comment, state "
            "FROM reports ORDER BY id"
        )
        return [dict(r) for r in rows]

    # -- writes (each one transaction) ------------------------------------------------------

    async def record_follow(
        self,
        *,
        activity_id: str,
        discussion_id: int,
        follower: RemoteActor,
        reply: Outgoing,
        accepted: bool,
        now: str,
    ) -> bool:
        """Store the follower (when ``accepted``) and queue the Accept (or Reject) to it."""

        def write(conn: sqlite3.Connection) -> bool:
            if not mark_seen(conn, follower.id, activity_id, now):
                return False
            upsert_actor(conn, follower)
            assert follower.inbox is not None
            if accepted:
                upsert_follower(
                    conn,
                    discussion_id,
                    actor_id=follower.id,
                    follow_activity_id=activity_id,
                    inbox=follower.inbox,
                    shared_inbox=follower.shared_inbox,
                    now=now,
                )
            enqueue(conn, reply, follower.inbox, now)
            return True

        return await self.db.write(write)

    async def remove_follow(
        self,
        *,
        activity_id: str,
        actor_id: str,
        follow_id: str | None,
        discussion_id: int | None,
        now: str,
    ) -> int:
        """Undo{Follow} / Block: by the Follow's id, or by (discussion, actor)."""

        def write(conn: sqlite3.Connection) -> int:
            if not mark_seen(conn, actor_id, activity_id, now):
                return 0
            cur = conn.execute(
                "DELETE FROM follows WHERE actor_id = ? AND "
                "(follow_activity_id = ? OR discussion_id = ?)",
                (actor_id, follow_id, discussion_id),
            )
            return cur.rowcount

        return await self.db.write(write)

    async def accept_reply(
        self,
        *,
        activity_id: str,
        actor_id: str,
        slug: str,
        notes: Sequence[NewNote],
        authors: Sequence[RemoteActor],
        announce: AnnounceBuilder,
        announce_to_author: str | None,
        now: str,
        as_staff: bool = False,
    ) -> ReplyResult:
        """Store ``notes`` (fetched parents first, the reply last) as the next ordered
        notes of discussion ``slug`` if it accepts replies; for the last one, record the
        group's Announce in the outbox and queue it to every follower (when the
        discussion announces replies). All of it, or nothing, in one transaction."""

        def write(conn: sqlite3.Connection) -> ReplyResult:
            row = conn.execute(
                "SELECT id, state, announce_replies, premoderate FROM discussions WHERE slug = ?",
                (slug,),
            ).fetchone()
            if row is None or row[1] == "deleted":
                return ReplyResult(ReplyStatus.UNKNOWN)
            if row[1] != "open" and not as_staff:  # staff may answer in locked threads
                return ReplyResult(ReplyStatus.CLOSED)
            discussion_id, announces = row[0], bool(row[2])
            held = bool(row[3]) and not as_staff
            if not mark_seen(conn, actor_id, activity_id, now):
                return ReplyResult(ReplyStatus.ACCEPTED)
            for author in authors:
                upsert_actor(conn, author)
            seqs = []
            seq = None
            for note in notes:
                seq = append_note(conn, discussion_id, note, "held" if held else "visible")
                if seq is not None:
                    seqs.append(seq)
            if held:  # nothing is shared until a moderator approves (then: announce)
                return ReplyResult(ReplyStatus.HELD, tuple(seqs))
            if seq is not None and announces:
                out = announce(seq)
                add_to_outbox(
                    conn,
                    discussion_id,
                    activity_id=out.activity_id,
                    type_="Announce",
                    object_id=notes[-1].ap_id,
                    published=now,
                    payload=out.payload,
                )
                extra = [announce_to_author] if announce_to_author else []
                enqueue_followers(conn, discussion_id, out, now, extra)
            return ReplyResult(ReplyStatus.ACCEPTED, tuple(seqs))

        return await self.db.write(write)

    async def update_note(
        self,
        *,
        activity_id: str,
        ap_id: str,
        author_id: str,
        content: str,
        summary: str | None,
        sensitive: bool,
        updated: str,
        raw: str,
        now: str,
        follow_up: FollowUpBuilder | None = None,
    ) -> bool:
        """An edit by the note's author, applied only if ``updated`` is newer than what we
        have (Mastodon's rule); the previous version is kept in note_revisions."""

        def write(conn: sqlite3.Connection) -> bool:
            if not mark_seen(conn, author_id, activity_id, now):
                return False
            row = conn.execute(
                "SELECT id, discussion_id, content, summary, updated, raw, published "
                "FROM notes WHERE ap_id = ? AND author_id = ? AND state != 'deleted'",
                (ap_id, author_id),
            ).fetchone()
            if row is None or not is_newer_edit(updated, row[4]):
                return False
            conn.execute(
                "INSERT INTO note_revisions (note_id, content, summary, updated, raw, "
                "replaced_at) VALUES (?, ?, ?, ?, ?, ?)",
                (row[0], row[2], row[3], row[4] or row[6], row[5], now),
            )
            conn.execute(
                "UPDATE notes SET content = ?, summary = ?, sensitive = ?, updated = ?, raw = ? "
                "WHERE id = ?",
                (content, summary, int(sensitive), updated, raw, row[0]),
            )
            bump_revision(conn, row[1])
            queue_follow_up(conn, row[0], follow_up, now)
            return True

        return await self.db.write(write)

    async def delete_note(
        self,
        *,
        activity_id: str,
        ap_id: str,
        author_id: str,
        now: str,
        follow_up: FollowUpBuilder | None = None,
    ) -> DeleteResult:
        """The author deleted it: a tombstone that keeps its place in the order, and a
        marker that refuses a later Create of the same id (also when the Delete arrives
        before the Create)."""

        def write(conn: sqlite3.Connection) -> DeleteResult:
            existing = conn.execute(
                "SELECT id, discussion_id, author_id, state FROM notes WHERE ap_id = ?",
                (ap_id,),
            ).fetchone()
            if existing is not None and existing[2] != author_id:
                return DeleteResult.NOT_AUTHOR
            if not mark_seen(conn, author_id, activity_id, now):
                return DeleteResult.DUPLICATE
            remember_tombstone(conn, ap_id, author_id, now)
            if existing is None:
                return DeleteResult.REMEMBERED
            if existing[3] == "deleted":
                return DeleteResult.DUPLICATE
            tombstone_note(conn, existing[0], now)
            bump_revision(conn, existing[1], replies=-1)
            queue_follow_up(conn, existing[0], follow_up, now)
            return DeleteResult.DELETED

        return await self.db.write(write)

    async def delete_actor(self, *, activity_id: str, actor_id: str, now: str) -> None:
        """The actor deleted their account: they stop following, their notes become
        tombstones (keeping their places), their cached profile is marked gone."""

        def write(conn: sqlite3.Connection) -> None:
            if not mark_seen(conn, actor_id, activity_id, now):
                return
            conn.execute("DELETE FROM follows WHERE actor_id = ?", (actor_id,))
            rows = conn.execute(
                "UPDATE notes SET state = 'deleted', content = '', summary = NULL, raw = NULL, "
                "updated = ? WHERE author_id = ? AND state != 'deleted' AND is_local = 0 "
                "RETURNING discussion_id, ap_id",
                (now, actor_id),
            ).fetchall()
            for discussion_id, ap_id in rows:
                remember_tombstone(conn, ap_id, actor_id, now)
                bump_revision(conn, discussion_id, replies=-1)
            conn.execute("UPDATE actors SET state = 'gone' WHERE id = ?", (actor_id,))
            # in discussions we follow elsewhere: their notes go, a deleted group ends
            conn.execute(
                "UPDATE remote_notes SET state = 'deleted', content = '', summary = NULL, "
                "updated = ? WHERE author_id = ? AND state != 'deleted'",
                (now, actor_id),
            )
            conn.execute(
                "UPDATE remote_groups SET state = 'ended', updated_at = ? WHERE actor_id = ?",
                (now, actor_id),
            )

        await self.db.write(write)

    async def add_reaction(
        self,
        *,
        activity_id: str,
        note_ap_id: str,
        actor_id: str,
        kind: str,
        content: str | None,
        now: str,
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            note = conn.execute("SELECT id FROM notes WHERE ap_id = ?", (note_ap_id,)).fetchone()
            if note is None or not mark_seen(conn, actor_id, activity_id, now):
                return False
            cur = conn.execute(
                "INSERT INTO reactions (note_id, actor_id, kind, content, activity_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
                (note[0], actor_id, kind, content, activity_id, now),
            )
            return cur.rowcount == 1

        return await self.db.write(write)

    async def undo(
        self,
        *,
        activity_id: str,
        actor_id: str,
        undone_id: str,
        discussion_id: int | None,
        now: str,
    ) -> UndoResult:
        """``actor_id`` takes back its activity ``undone_id``: a Follow (by its id, or of
        ``discussion_id``) or a reaction. One dedupe mark for the Undo, then whatever it
        undoes: the Undo's id is seen once, whichever kind it turns out to be."""

        def write(conn: sqlite3.Connection) -> UndoResult:
            if not mark_seen(conn, actor_id, activity_id, now):
                return UndoResult.DUPLICATE
            follows = conn.execute(
                "DELETE FROM follows WHERE actor_id = ? AND "
                "(follow_activity_id = ? OR discussion_id = ?)",
                (actor_id, undone_id, discussion_id),
            ).rowcount
            reactions = conn.execute(
                "DELETE FROM reactions WHERE activity_id = ? AND actor_id = ?",
                (undone_id, actor_id),
            ).rowcount
            if follows:
                return UndoResult.FOLLOW
            return UndoResult.REACTION if reactions else UndoResult.NOTHING

        return await self.db.write(write)

    async def add_report(
        self,
        *,
        activity_id: str,
        reporter: str,
        discussion_id: int | None,
        note_ids: str,
        comment: str,
        now: str,
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if not mark_seen(conn, reporter, activity_id, now):
                return False
            conn.execute(
                "INSERT INTO reports (source, activity_id, reporter, discussion_id, note_ids, "
                "comment, created_at) VALUES ('federated', ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (activity_id) DO NOTHING",
                (activity_id, reporter, discussion_id, note_ids, comment, now),
            )
            return True

        return await self.db.write(write)

    async def refresh_actor(self, actor: RemoteActor) -> None:
        """A new profile (name, avatar, key). Pages showing their notes change too, so
        those discussions get a new revision (it keys the page caches)."""

        def write(conn: sqlite3.Connection) -> None:
            upsert_actor(conn, actor)
            conn.execute(
                "UPDATE discussions SET revision = revision + 1 WHERE id IN "
                "(SELECT DISTINCT discussion_id FROM notes WHERE author_id = ?)",
                (actor.id,),
            )

        await self.db.write(write)
