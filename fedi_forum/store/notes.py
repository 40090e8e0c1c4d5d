"""The ordered notes of local discussions: pages, single notes, the context and
replies collections, and what the inbox does to notes (accept a reply, apply an edit or
a Delete). Each write is ONE transaction in the group commit: the activity's dedupe
mark, its effects and the deliveries it queues commit together or not at all, so "202
after durably stored" holds and a crash can neither lose a reply nor send for a reply
that was not stored."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

from fedi_forum.models import (
    Discussion,
    NewNote,
    Note,
    RemoteActor,
    is_newer_edit,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    RELAYING_COLS,
    RELAYING_JOIN,
    AnnounceBuilder,
    FollowUpBuilder,
    RelayBuilder,
    add_to_outbox,
    append_note,
    bump_revision,
    enqueue_followers,
    mark_seen,
    queue_follow_up,
    relay_to_category,
    relaying_from,
    remember_tombstone,
    tombstone_note,
    upsert_actor,
)
from fedi_forum.store.rows import (
    DISCUSSION_COLS,
    DISCUSSION_WIDTH,
    NOTE_COLS,
    NOTE_FROM,
    discussion_from_row,
    note_from_row,
    split_row,
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


@dataclasses.dataclass(frozen=True, slots=True)
class AdminNote:
    slug: str
    title: str
    seq: int
    state: str
    author: str
    excerpt_html: str
    published: str
    id: int = 0  # the keyset cursor of the moderators' list
    author_id: str = ""


NOTE_STATES = ("visible", "held", "hidden", "deleted")


class NoteStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def append_note(self, discussion_id: int, note: NewNote) -> int | None:
        """Store ``note`` as the next ordered note of the discussion; return its seq.

        Returns None (and changes nothing) when the id is already known or was deleted
        before it arrived: the same note twice is stored once.
        """

        def write(conn: Conn) -> int | None:
            return append_note(conn, discussion_id, note)

        return await self.db.write(write)

    async def note(self, discussion_id: int, seq: int) -> Note | None:
        row = await self.db.fetch_one(
            f"SELECT {NOTE_COLS} FROM {NOTE_FROM} WHERE n.discussion_id = ? AND n.seq = ?",
            (discussion_id, seq),
        )
        return None if row is None else note_from_row(row)

    async def note_raw(self, discussion_id: int, seq: int) -> bytes | None:
        row = await self.db.fetch_one(
            "SELECT raw FROM notes WHERE discussion_id = ? AND seq = ? AND is_local = 1",
            (discussion_id, seq),
        )
        return None if row is None or row["raw"] is None else str(row["raw"]).encode()

    async def notes_page(self, discussion_id: int, first: int, last: int) -> list[Note]:
        """The opening post plus notes with first <= seq <= last, in order (held notes
        excluded). Two index range searches in one query (an OR would scan)."""
        where = "n.discussion_id = ? AND n.state != 'held' AND n.seq"
        rows = await self.db.fetch_all(
            f"SELECT {NOTE_COLS} FROM {NOTE_FROM} WHERE {where} = 0 "
            f"UNION ALL SELECT {NOTE_COLS} FROM {NOTE_FROM} WHERE {where} BETWEEN ? AND ? "
            "ORDER BY 3",
            (discussion_id, discussion_id, max(first, 1), last),
        )
        return [note_from_row(r) for r in rows]

    async def official_notes(self, discussion_id: int, limit: int = 3) -> list[Note]:
        """The discussion's visible official answers, oldest first (pinned on its page)."""
        rows = await self.db.fetch_all(
            f"SELECT {NOTE_COLS} FROM {NOTE_FROM} WHERE n.discussion_id = ? AND n.official = 1 "
            "AND n.state = 'visible' ORDER BY n.seq LIMIT ?",
            (discussion_id, limit),
        )
        return [note_from_row(r) for r in rows]

    async def latest_notes(
        self, limit: int, discussion_id: int | None = None
    ) -> list[tuple[Discussion, Note]]:
        """Newest visible notes (for feeds), across the instance or in one discussion."""
        where = "n.state = 'visible' AND d.state != 'deleted'"
        params: list[Any] = []
        if discussion_id is not None:
            where += " AND n.discussion_id = ?"
            params.append(discussion_id)
        rows = await self.db.fetch_all(
            f"SELECT {DISCUSSION_COLS}, {NOTE_COLS} FROM {NOTE_FROM} "
            f"JOIN discussions d ON d.id = n.discussion_id WHERE {where} "
            "ORDER BY n.id DESC LIMIT ?",
            (*params, limit),
        )
        return [
            (
                discussion_from_row(split_row(r, 0, DISCUSSION_WIDTH)),
                note_from_row(split_row(r, DISCUSSION_WIDTH, None)),
            )
            for r in rows
        ]

    async def context_page(
        self, discussion_id: int, after: int, limit: int
    ) -> list[tuple[int, str]]:
        """(seq, ap_id) of listed notes with seq > after, oldest first."""
        rows = await self.db.fetch_all(
            "SELECT seq, ap_id FROM notes WHERE discussion_id = ? AND seq > ? "
            "AND state NOT IN ('held', 'hidden') ORDER BY seq LIMIT ?",
            (discussion_id, after, limit),
        )
        return [(r["seq"], r["ap_id"]) for r in rows]

    async def context_count(self, discussion_id: int) -> int:
        row = await self.db.fetch_one(
            "SELECT count(*) FROM notes WHERE discussion_id = ? "
            "AND state NOT IN ('held', 'hidden')",
            (discussion_id,),
        )
        return int(row[0])

    async def replies_page(
        self, discussion_id: int, in_reply_to: str, after: int, limit: int
    ) -> list[tuple[int, str]]:
        rows = await self.db.fetch_all(
            "SELECT seq, ap_id FROM notes WHERE discussion_id = ? AND in_reply_to = ? "
            "AND seq > ? AND state = 'visible' ORDER BY seq LIMIT ?",
            (discussion_id, in_reply_to, after, limit),
        )
        return [(r["seq"], r["ap_id"]) for r in rows]

    async def note_location(self, ap_id: str) -> tuple[str, int] | None:
        """(discussion slug, seq) of a note we hold, by its ActivityPub id; a post that
        started a discussion (an approved proposal) stands for its opening post, so
        replies to it on the author's server come to the discussion."""
        row = await self.db.fetch_one(
            "SELECT d.slug, n.seq FROM notes n JOIN discussions d ON d.id = n.discussion_id "
            "WHERE n.ap_id = ? UNION ALL SELECT d.slug, 0 FROM proposals p "
            "JOIN discussions d ON d.id = p.discussion_id WHERE p.note_ap_id = ?",
            (ap_id, ap_id),
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
        relay: RelayBuilder | None = None,
    ) -> ReplyResult:
        """Store ``notes`` (fetched parents first, the reply last) as the next ordered
        notes of discussion ``slug`` if it accepts replies; for the last one, record the
        group's Announce in the outbox and queue it to every follower (when the
        discussion announces replies). All of it, or nothing, in one transaction."""

        def write(conn: Conn) -> ReplyResult:
            # the relaying category read with the discussion: one round trip fewer
            row = conn.execute(
                "SELECT d.id, d.state, d.announce_replies, d.premoderate, "
                f"{RELAYING_COLS} FROM discussions d {RELAYING_JOIN} WHERE d.slug = ?",
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
                relay_to_category(conn, relaying_from(row), notes[-1].ap_id, relay, now)
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

        def write(conn: Conn) -> bool:
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

        def write(conn: Conn) -> DeleteResult:
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

    async def admin_replies(
        self,
        *,
        limit: int = 50,
        before: int | None = None,
        slug: str | None = None,
        state: str | None = None,
        author: str | None = None,
        seq: int | None = None,
    ) -> list[AdminNote]:
        """Replies for the moderators, newest first, keyset-paged by note id (``before``),
        filtered by discussion, state (one of ``NOTE_STATES``) and author (part of a
        name, handle or actor URL; attacker-controlled text, a bound LIKE pattern)."""
        where = ["n.seq > 0", "d.state != 'deleted'"]
        args: list[Any] = []
        if before is not None:
            where.append("n.id < ?")
            args.append(before)
        if slug:
            where.append("d.slug = ?")
            args.append(slug)
        if seq is not None:
            where.append("n.seq = ?")
            args.append(seq)
        if state in NOTE_STATES:
            where.append("n.state = ?")
            args.append(state)
        if author:
            escaped = author.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
            where.append(
                "(lower(coalesce(a.name, '')) LIKE ? ESCAPE '\\' OR "
                "lower(coalesce(a.preferred_username, '')) LIKE ? ESCAPE '\\' OR "
                "lower(n.author_id) LIKE ? ESCAPE '\\')"
            )
            args += [pattern, pattern, pattern]
        rows = await self.db.fetch_all(
            "SELECT d.slug, d.title, n.seq, n.state, coalesce(a.name, a.preferred_username, "
            "n.author_id), n.content, n.published, n.id, n.author_id FROM notes n "
            "JOIN discussions d ON d.id = n.discussion_id "
            "LEFT JOIN actors a ON a.id = n.author_id "
            f"WHERE {' AND '.join(where)} ORDER BY n.id DESC LIMIT ?",
            (*args, limit),
        )
        return [AdminNote(*r) for r in rows]
