"""Typed async API over the database. Every method is one logical operation: reads are
one query (one thread hop), writes are one function run inside the group commit.

Pagination is keyset only (``seq``/``id`` comparisons on an index), never OFFSET: the
last page of a 10,000-reply discussion costs what the first one does.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fedi_forum.errors import Conflict
from fedi_forum.models import (
    DISCUSSION_TRANSITIONS,
    CollectionItem,
    Discussion,
    DiscussionState,
    InstanceStats,
    NewNote,
    Note,
    RemoteActor,
    states_leading_to,
)
from fedi_forum.store.activity import ActivityStore
from fedi_forum.store.db import Database
from fedi_forum.store.delivery import DeliveryStore
from fedi_forum.store.moderation import AdminViewStore, ModerationStore
from fedi_forum.store.primitives import (
    Outgoing,
    add_to_outbox,
    append_note,
    bump_revision,
    enqueue_followers,
    upsert_actor,
    upsert_follower,
)
from fedi_forum.store.remote import RemoteStore
from fedi_forum.store.rows import RowLike, note_from_row
from fedi_forum.store.staff import StaffStore
from fedi_forum.store.workers import WorkerStore

_DISCUSSION_COLS = (
    "d.id, d.slug, d.title, d.summary, d.lang, d.state, d.announce_replies, d.public_key_pem, "
    "d.views, d.last_seq, d.reply_count, d.created_at, d.updated_at, d.last_activity_at, "
    "d.revision, d.premoderate"
)
_NOTE_COLS = (
    "n.id, n.discussion_id, n.seq, n.ap_id, n.author_id, n.in_reply_to, n.in_reply_to_seq, "
    "n.content, n.summary, n.sensitive, n.lang, n.url, n.state, n.published, n.updated, "
    "n.is_local, n.official, a.name AS a_name, a.preferred_username AS a_username, "
    "a.host AS a_host, a.url AS a_url, a.icon_url AS a_icon"
)
_NOTE_FROM = "notes n LEFT JOIN actors a ON a.id = n.author_id"

# SQL text below is assembled only from the constant column lists above; every value is
# a bound parameter.
_RowLike = RowLike


def _discussion(row: _RowLike) -> Discussion:
    return Discussion(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        summary=row["summary"],
        lang=row["lang"],
        state=DiscussionState(row["state"]),
        announce_replies=bool(row["announce_replies"]),
        public_key_pem=row["public_key_pem"],
        views=row["views"],
        last_seq=row["last_seq"],
        reply_count=row["reply_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
        revision=row["revision"],
        premoderate=bool(row["premoderate"]),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewDiscussion:
    """Everything needed to create a discussion and its opening post in one transaction.

    The ids and JSON documents are built by the caller (pure protocol code); the store
    only persists them.
    """

    slug: str
    title: str
    summary: str
    lang: str
    public_key_pem: str
    group_id: str
    opening_ap_id: str
    opening_content: str
    opening_raw: str
    create_activity_id: str
    create_payload: str
    now: str


class Store(
    ActivityStore,
    DeliveryStore,
    ModerationStore,
    AdminViewStore,
    StaffStore,
    RemoteStore,
    WorkerStore,
):
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- instance facts -------------------------------------------------------------------

    async def claim_base_url(self, base_url: str) -> str:
        """Record the base URL on first start; return the one on record.

        Every id we ever published embeds it, so it must not silently change.
        """

        def write(conn: sqlite3.Connection) -> str:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('base_url', ?) ON CONFLICT DO NOTHING",
                (base_url,),
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'base_url'").fetchone()
            return str(row[0])

        return await self.db.write(write)

    async def recorded_base_url(self) -> str | None:
        row = await self.db.fetch_one("SELECT value FROM meta WHERE key = 'base_url'")
        return None if row is None else str(row[0])

    # -- discussions -------------------------------------------------------------------

    async def create_discussion(self, new: NewDiscussion) -> Discussion:
        def write(conn: sqlite3.Connection) -> Discussion:
            try:
                cur = conn.execute(
                    "INSERT INTO discussions (slug, title, summary, lang, public_key_pem, "
                    "created_at, updated_at, last_activity_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        new.slug,
                        new.title,
                        new.summary,
                        new.lang,
                        new.public_key_pem,
                        new.now,
                        new.now,
                        new.now,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(
                    f"slug {new.slug!r} taken", public_message="that name is already taken"
                ) from exc
            discussion_id = cur.lastrowid
            assert discussion_id is not None  # an INSERT that succeeded has a row id
            conn.execute(
                "INSERT INTO notes (discussion_id, seq, ap_id, activity_id, author_id, "
                "is_local, content, lang, url, visibility, published, accepted_at, raw) "
                "VALUES (?, 0, ?, ?, ?, 1, ?, ?, ?, 'public', ?, ?, ?)",
                (
                    discussion_id,
                    new.opening_ap_id,
                    new.create_activity_id,
                    new.group_id,
                    new.opening_content,
                    new.lang,
                    new.opening_ap_id,
                    new.now,
                    new.now,
                    new.opening_raw,
                ),
            )
            add_to_outbox(
                conn,
                discussion_id,
                activity_id=new.create_activity_id,
                type_="Create",
                object_id=new.opening_ap_id,
                published=new.now,
                payload=new.create_payload,
            )
            row = conn.execute(
                f"SELECT {_DISCUSSION_COLS} FROM discussions d WHERE id = ?", (discussion_id,)
            ).fetchone()
            return _discussion(row)

        return await self.db.write(write)

    async def set_discussion_state(
        self, slug: str, state: DiscussionState, now: str, *, farewell: Outgoing | None = None
    ) -> Discussion | None:
        """Change the state if ``DISCUSSION_TRANSITIONS`` allows it (the caller compares
        the state returned with the one asked for); ``farewell`` (the group's Delete, when
        removing it) is queued to every follower server in the same transaction, and the
        follows end."""

        allowed = states_leading_to(DISCUSSION_TRANSITIONS, state)
        marks = ", ".join("?" * len(allowed))

        def write(conn: sqlite3.Connection) -> Discussion | None:
            changed = conn.execute(
                f"UPDATE discussions SET state = ?, updated_at = ? WHERE slug = ? "
                f"AND state IN ({marks}) RETURNING id",
                (state.value, now, slug, *allowed),
            ).fetchone()
            if changed is not None and farewell is not None:
                enqueue_followers(conn, changed[0], farewell, now)
                conn.execute("DELETE FROM follows WHERE discussion_id = ?", (changed[0],))
            row = conn.execute(
                f"SELECT {_DISCUSSION_COLS} FROM discussions d WHERE slug = ?", (slug,)
            ).fetchone()
            return None if row is None else _discussion(row)

        return await self.db.write(write)

    async def edit_discussion(
        self,
        slug: str,
        *,
        title: str,
        summary: str,
        content: str,
        raw: str,
        now: str,
        outgoing: Sequence[Outgoing],
    ) -> Discussion | None:
        """New title/summary/opening text (the old text kept as a revision), and the
        Updates for the followers queued in the same transaction."""

        def write(conn: sqlite3.Connection) -> Discussion | None:
            row = conn.execute(
                "SELECT d.id, n.id, n.content, n.summary, coalesce(n.updated, n.published), "
                "n.raw FROM discussions d JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 "
                "WHERE d.slug = ? AND d.state != 'deleted'",
                (slug,),
            ).fetchone()
            if row is None:
                return None
            discussion_id, note_id = row[0], row[1]
            conn.execute(
                "INSERT INTO note_revisions (note_id, content, summary, updated, raw, "
                "replaced_at) VALUES (?, ?, ?, ?, ?, ?)",
                (note_id, row[2], row[3], row[4], row[5], now),
            )
            conn.execute(
                "UPDATE notes SET content = ?, raw = ?, updated = ? WHERE id = ?",
                (content, raw, now, note_id),
            )
            conn.execute(
                "UPDATE discussions SET title = ?, summary = ?, updated_at = ?, "
                "revision = revision + 1 WHERE id = ?",
                (title, summary, now, discussion_id),
            )
            for out in outgoing:
                enqueue_followers(conn, discussion_id, out, now)
            found = conn.execute(
                f"SELECT {_DISCUSSION_COLS} FROM discussions d WHERE id = ?", (discussion_id,)
            ).fetchone()
            return _discussion(found)

        return await self.db.write(write)

    async def set_announce_replies(self, slug: str, on: bool, now: str) -> Discussion | None:
        return await self._set_flag("announce_replies", slug, on, now)

    async def set_premoderate(self, slug: str, on: bool, now: str) -> Discussion | None:
        return await self._set_flag("premoderate", slug, on, now)

    async def _set_flag(self, column: str, slug: str, on: bool, now: str) -> Discussion | None:
        assert column in ("announce_replies", "premoderate")  # a constant, never input

        def write(conn: sqlite3.Connection) -> Discussion | None:
            conn.execute(
                f"UPDATE discussions SET {column} = ?, updated_at = ? WHERE slug = ?",
                (int(on), now, slug),
            )
            row = conn.execute(
                f"SELECT {_DISCUSSION_COLS} FROM discussions d WHERE slug = ?", (slug,)
            ).fetchone()
            return None if row is None else _discussion(row)

        return await self.db.write(write)

    async def add_views(self, counts: Mapping[int, int]) -> None:
        """Add counted page views (batched by the caller; one write for many views)."""
        if not counts:
            return
        params = [(n, discussion_id) for discussion_id, n in counts.items()]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE discussions SET views = views + ? WHERE id = ?", params)

        await self.db.write(write)

    async def discussion(self, slug: str) -> Discussion | None:
        """By slug, case-insensitively (slugs are stored lower-case)."""
        row = await self.db.fetch_one(
            f"SELECT {_DISCUSSION_COLS} FROM discussions d WHERE d.slug = ?", (slug.lower(),)
        )
        return None if row is None else _discussion(row)

    async def discussions(self, limit: int = 200) -> list[tuple[Discussion, Note]]:
        """Live discussions, most recently active first, each with its opening post."""
        rows = await self.db.fetch_all(
            f"SELECT {_DISCUSSION_COLS}, {_NOTE_COLS} FROM discussions d "
            "JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 "
            "LEFT JOIN actors a ON a.id = n.author_id "
            "WHERE d.state != 'deleted' ORDER BY d.last_activity_at DESC, "
            # ties within a second: the newest note id decides
            "(SELECT max(n2.id) FROM notes n2 WHERE n2.discussion_id = d.id) DESC LIMIT ?",
            (limit,),
        )
        return [(_discussion(_split(r, 0, 16)), note_from_row(_split(r, 16, None))) for r in rows]

    async def append_note(self, discussion_id: int, note: NewNote) -> int | None:
        """Store ``note`` as the next ordered note of the discussion; return its seq.

        Returns None (and changes nothing) when the id is already known or was deleted
        before it arrived: the same note twice is stored once.
        """

        def write(conn: sqlite3.Connection) -> int | None:
            return append_note(conn, discussion_id, note)

        return await self.db.write(write)

    async def append_outbox(
        self,
        discussion_id: int,
        *,
        activity_id: str,
        type_: str,
        object_id: str | None,
        payload: str,
        published: str,
    ) -> None:
        def write(conn: sqlite3.Connection) -> None:
            add_to_outbox(
                conn,
                discussion_id,
                activity_id=activity_id,
                type_=type_,
                object_id=object_id,
                published=published,
                payload=payload,
            )
            bump_revision(conn, discussion_id)  # cached outbox pages are keyed by it

        await self.db.write(write)

    async def add_follower(
        self,
        discussion_id: int,
        *,
        actor_id: str,
        inbox: str,
        shared_inbox: str | None,
        follow_activity_id: str | None,
        now: str,
    ) -> bool:
        """Returns whether the follower is new."""

        def write(conn: sqlite3.Connection) -> bool:
            existed = conn.execute(
                "SELECT 1 FROM follows WHERE discussion_id = ? AND actor_id = ?",
                (discussion_id, actor_id),
            ).fetchone()
            upsert_follower(
                conn,
                discussion_id,
                actor_id=actor_id,
                follow_activity_id=follow_activity_id,
                inbox=inbox,
                shared_inbox=shared_inbox,
                now=now,
            )
            return existed is None

        return await self.db.write(write)

    async def upsert_actor(self, actor: RemoteActor) -> None:
        def write(conn: sqlite3.Connection) -> None:
            upsert_actor(conn, actor)

        await self.db.write(write)

    # -- notes ---------------------------------------------------------------------------

    async def notes_page(self, discussion_id: int, first: int, last: int) -> list[Note]:
        """The opening post plus notes with first <= seq <= last, in order (held notes
        excluded). Two index range searches in one query (an OR would scan)."""
        where = "n.discussion_id = ? AND n.state != 'held' AND n.seq"
        rows = await self.db.fetch_all(
            f"SELECT {_NOTE_COLS} FROM {_NOTE_FROM} WHERE {where} = 0 "
            f"UNION ALL SELECT {_NOTE_COLS} FROM {_NOTE_FROM} WHERE {where} BETWEEN ? AND ? "
            "ORDER BY 3",
            (discussion_id, discussion_id, max(first, 1), last),
        )
        return [note_from_row(r) for r in rows]

    async def note(self, discussion_id: int, seq: int) -> Note | None:
        row = await self.db.fetch_one(
            f"SELECT {_NOTE_COLS} FROM {_NOTE_FROM} WHERE n.discussion_id = ? AND n.seq = ?",
            (discussion_id, seq),
        )
        return None if row is None else note_from_row(row)

    async def note_raw(self, discussion_id: int, seq: int) -> bytes | None:
        row = await self.db.fetch_one(
            "SELECT raw FROM notes WHERE discussion_id = ? AND seq = ? AND is_local = 1",
            (discussion_id, seq),
        )
        return None if row is None or row["raw"] is None else str(row["raw"]).encode()

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
            f"SELECT {_DISCUSSION_COLS}, {_NOTE_COLS} FROM {_NOTE_FROM} "
            f"JOIN discussions d ON d.id = n.discussion_id WHERE {where} "
            "ORDER BY n.id DESC LIMIT ?",
            (*params, limit),
        )
        return [(_discussion(_split(r, 0, 16)), note_from_row(_split(r, 16, None))) for r in rows]

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

    # -- outbox and followers -------------------------------------------------------------

    async def outbox_count(self, discussion_id: int) -> int:
        row = await self.db.fetch_one(
            "SELECT count(*) FROM outbox WHERE discussion_id = ?", (discussion_id,)
        )
        return int(row[0])

    async def outbox_page(
        self, discussion_id: int, *, before: int | None, after: int | None, limit: int
    ) -> list[CollectionItem]:
        """Newest first. ``before``: older than that id; ``after``: newer than that id."""
        if after is not None:
            rows = await self.db.fetch_all(
                "SELECT id, payload FROM outbox WHERE discussion_id = ? AND id > ? "
                "ORDER BY id ASC LIMIT ?",
                (discussion_id, after, limit),
            )
            rows.reverse()
        else:
            rows = await self.db.fetch_all(
                "SELECT id, payload FROM outbox WHERE discussion_id = ? AND id < ? "
                "ORDER BY id DESC LIMIT ?",
                (discussion_id, before if before is not None else 2**62, limit),
            )
        return [CollectionItem(r["id"], str(r["payload"]).encode()) for r in rows]

    async def outbox_activity(self, discussion_id: int, activity_id: str) -> bytes | None:
        row = await self.db.fetch_one(
            "SELECT payload FROM outbox WHERE discussion_id = ? AND activity_id = ?",
            (discussion_id, activity_id),
        )
        return None if row is None else str(row["payload"]).encode()

    async def followers_count(self, discussion_id: int) -> int:
        row = await self.db.fetch_one(
            "SELECT count(*) FROM follows WHERE discussion_id = ?", (discussion_id,)
        )
        return int(row[0])

    async def followers_page(
        self, discussion_id: int, after: int, limit: int
    ) -> list[tuple[int, str]]:
        rows = await self.db.fetch_all(
            "SELECT id, actor_id FROM follows WHERE discussion_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (discussion_id, after, limit),
        )
        return [(r["id"], r["actor_id"]) for r in rows]

    # -- instance --------------------------------------------------------------------------

    async def stats(self) -> InstanceStats:
        row = await self.db.fetch_one(
            "SELECT "
            "(SELECT count(*) FROM discussions WHERE state != 'deleted'), "
            "(SELECT count(*) FROM notes WHERE is_local = 1 AND state = 'visible'), "
            "(SELECT count(*) FROM notes WHERE seq > 0 AND state = 'visible'), "
            "(SELECT count(DISTINCT actor_id) FROM follows)",
            offload=True,  # scans: not on the event loop
        )
        return InstanceStats(
            discussions=row[0], local_posts=row[1], replies=row[2], followers=row[3]
        )


class _Row(Mapping[str, Any]):
    __slots__ = ("_names", "_values")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._names = {n: i for i, n in enumerate(names)}
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._names[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _split(row: sqlite3.Row, start: int, stop: int | None) -> _RowLike:
    """A slice of a joined row, with its own column names (joins repeat names like id)."""
    names = row.keys()[start:stop]
    return _Row([n.split(".")[-1] for n in names], tuple(row)[start:stop])
