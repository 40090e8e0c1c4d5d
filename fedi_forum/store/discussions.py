"""Discussions (the local Group actors): create, edit, open/close/delete under
``DISCUSSION_TRANSITIONS``, counted views, and the index's list."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from fedi_forum.errors import Conflict
from fedi_forum.models import (
    DISCUSSION_TRANSITIONS,
    Discussion,
    DiscussionState,
    Note,
    states_leading_to,
)
from fedi_forum.store.conn import Conn, ConstraintViolation
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    Outgoing,
    add_to_outbox,
    enqueue_category_followers,
    enqueue_followers,
)
from fedi_forum.store.row_cache import RowCache
from fedi_forum.store.rows import (
    DISCUSSION_COLS,
    DISCUSSION_WIDTH,
    NOTE_COLS,
    discussion_from_row,
    note_from_row,
    split_row,
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
    category_id: int | None = None
    # each category's boost of the opening post, for its followers (forum/categories.py)
    announces: Sequence[tuple[int, Outgoing]] = ()


class DiscussionStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine
    shown: RowCache[Discussion]

    async def create_discussion(self, new: NewDiscussion) -> Discussion:
        def write(conn: Conn) -> Discussion:
            if conn.execute("SELECT 1 FROM categories WHERE slug = ?", (new.slug,)).fetchone():
                raise Conflict(
                    f"slug {new.slug!r} taken", public_message="that name is already taken"
                )
            try:
                cur = conn.execute(
                    "INSERT INTO discussions (slug, title, summary, lang, public_key_pem, "
                    "created_at, updated_at, last_activity_at, category_id) "
                    "VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                    (
                        new.slug,
                        new.title,
                        new.summary,
                        new.lang,
                        new.public_key_pem,
                        new.now,
                        new.now,
                        new.now,
                        new.category_id,
                    ),
                )
            except ConstraintViolation as exc:
                raise Conflict(
                    f"slug {new.slug!r} taken", public_message="that name is already taken"
                ) from exc
            discussion_id = int(cur.fetchone()[0])
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
            for category_id, announce in new.announces:
                enqueue_category_followers(conn, [category_id], announce, new.now)
            row = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE id = ?", (discussion_id,)
            ).fetchone()
            return discussion_from_row(row)

        return await self.db.write(write)

    async def set_discussion_image(
        self,
        slug: str,
        kind: str,
        media_type: str,
        data: bytes,
        now: str,
        build_update: Callable[[Discussion], Outgoing],
    ) -> Discussion | None:
        """Keep a discussion's avatar or header (``kind``: icon | header, checked by the
        caller) and queue the group's Update to its followers, in one transaction."""
        column = {"icon": "icon_at", "header": "header_at"}[kind]  # a closed set

        def write(conn: Conn) -> Discussion | None:
            row = conn.execute(
                "SELECT id FROM discussions WHERE slug = ? AND state != 'deleted'", (slug,)
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "INSERT INTO discussion_images (discussion_id, kind, media_type, data, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (discussion_id, kind) DO "
                "UPDATE SET media_type = excluded.media_type, data = excluded.data, "
                "updated_at = excluded.updated_at",
                (row[0], kind, media_type, data, now),
            )
            conn.execute(
                f"UPDATE discussions SET {column} = ?, updated_at = ?, "
                "revision = revision + 1 WHERE id = ?",
                (now, now, row[0]),
            )
            d = discussion_from_row(
                conn.execute(
                    f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE id = ?", (row[0],)
                ).fetchone()
            )
            enqueue_followers(conn, d.id, build_update(d), now)
            return d

        return await self.db.write(write)

    async def discussion_image(self, discussion_id: int, kind: str) -> tuple[str, bytes] | None:
        row = await self.db.fetch_one(
            "SELECT media_type, data FROM discussion_images WHERE discussion_id = ? AND kind = ?",
            (discussion_id, kind),
        )
        return None if row is None else (str(row[0]), bytes(row[1]))

    async def set_discussion_state(
        self, slug: str, state: DiscussionState, now: str, *, farewell: Outgoing | None = None
    ) -> Discussion | None:
        """Change the state if ``DISCUSSION_TRANSITIONS`` allows it (the caller compares
        the state returned with the one asked for); ``farewell`` (the group's Delete, when
        removing it) is queued to every follower server in the same transaction, and the
        follows end."""

        allowed = states_leading_to(DISCUSSION_TRANSITIONS, state)
        marks = ", ".join("?" * len(allowed))

        def write(conn: Conn) -> Discussion | None:
            changed = conn.execute(
                f"UPDATE discussions SET state = ?, updated_at = ? WHERE slug = ? "
                f"AND state IN ({marks}) RETURNING id",
                (state.value, now, slug, *allowed),
            ).fetchone()
            if changed is not None and farewell is not None:
                enqueue_followers(conn, changed[0], farewell, now)
                conn.execute("DELETE FROM follows WHERE discussion_id = ?", (changed[0],))
            row = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE slug = ?", (slug,)
            ).fetchone()
            return None if row is None else discussion_from_row(row)

        return await self.db.write(write)

    async def edit_discussion(
        self,
        slug: str,
        *,
        title: str,
        summary: str,
        content: str,
        raw: str,
        create: Outgoing,
        now: str,
        outgoing: Sequence[Outgoing],
        category_outgoing: Sequence[tuple[int, Outgoing]] = (),
    ) -> Discussion | None:
        """New title/summary/opening text (the old text kept as a revision; the outbox's
        ``Create`` carries the new one, as an outbox shows objects as they are now), and
        the Updates for the followers queued in the same transaction: ``outgoing`` for
        the discussion's, ``category_outgoing`` (category id, activity) for those of
        the categories that boosted it."""

        def write(conn: Conn) -> Discussion | None:
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
                "UPDATE outbox SET payload = ? WHERE activity_id = ?",
                (create.payload, create.activity_id),
            )
            conn.execute(
                "UPDATE discussions SET title = ?, summary = ?, updated_at = ?, "
                "revision = revision + 1 WHERE id = ?",
                (title, summary, now, discussion_id),
            )
            for out in outgoing:
                enqueue_followers(conn, discussion_id, out, now)
            for category_id, out in category_outgoing:
                enqueue_category_followers(conn, [category_id], out, now)
            found = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE id = ?", (discussion_id,)
            ).fetchone()
            return discussion_from_row(found)

        return await self.db.write(write)

    async def opening_notes(self) -> list[tuple[str, str, str]]:
        """(slug, title, stored document) of each live discussion's opening post still
        published as a ``Note`` (before opening posts became ``Article``s)."""
        rows = await self.db.fetch_all(
            "SELECT d.slug, d.title, n.raw FROM discussions d "
            "JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 "
            "WHERE d.state != 'deleted' AND n.raw LIKE ?",
            ('%"type":"Note"%',),
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def republish_opening(
        self,
        slug: str,
        *,
        old_raw: str,
        content: str,
        raw: str,
        create: Outgoing,
        outgoing: Sequence[Outgoing],
        now: str,
    ) -> bool:
        """The same opening post in a new shape (no revision: its text is unchanged),
        the outbox's ``Create`` with it, and ``outgoing`` queued — only if the stored
        document is still ``old_raw``, so of several processes starting at once one
        republishes it and the others find it done."""

        def write(conn: Conn) -> bool:
            row = conn.execute(
                "SELECT d.id, n.id FROM discussions d "
                "JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 WHERE d.slug = ?",
                (slug,),
            ).fetchone()
            if row is None:
                return False
            changed = conn.execute(
                "UPDATE notes SET content = ?, raw = ? WHERE id = ? AND raw = ?",
                (content, raw, row[1], old_raw),
            ).rowcount
            if changed != 1:
                return False
            conn.execute(
                "UPDATE outbox SET payload = ? WHERE activity_id = ?",
                (create.payload, create.activity_id),
            )
            conn.execute("UPDATE discussions SET revision = revision + 1 WHERE id = ?", (row[0],))
            for out in outgoing:
                enqueue_followers(conn, row[0], out, now)
            return True

        return await self.db.write(write)

    async def set_announce_replies(self, slug: str, on: bool, now: str) -> Discussion | None:
        return await self._set_flag("announce_replies", slug, on, now)

    async def set_premoderate(self, slug: str, on: bool, now: str) -> Discussion | None:
        return await self._set_flag("premoderate", slug, on, now)

    async def set_pinned(self, slug: str, on: bool, now: str) -> Discussion | None:
        """Pin (since ``now``) or unpin a live discussion."""

        def write(conn: Conn) -> Discussion | None:
            conn.execute(
                "UPDATE discussions SET pinned_at = ?, updated_at = ? "
                "WHERE slug = ? AND state != 'deleted'",
                (now if on else None, now, slug),
            )
            row = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE slug = ? "
                "AND state != 'deleted'",
                (slug,),
            ).fetchone()
            return None if row is None else discussion_from_row(row)

        return await self.db.write(write)

    async def _set_flag(self, column: str, slug: str, on: bool, now: str) -> Discussion | None:
        assert column in ("announce_replies", "premoderate")  # a constant, never input

        def write(conn: Conn) -> Discussion | None:
            conn.execute(
                f"UPDATE discussions SET {column} = ?, updated_at = ? WHERE slug = ?",
                (int(on), now, slug),
            )
            row = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE slug = ?", (slug,)
            ).fetchone()
            return None if row is None else discussion_from_row(row)

        return await self.db.write(write)

    async def add_views(self, counts: Mapping[int, int]) -> None:
        """Add counted page views (batched by the caller; one write for many views)."""
        if not counts:
            return
        params = [(n, discussion_id) for discussion_id, n in counts.items()]

        def write(conn: Conn) -> None:
            conn.executemany("UPDATE discussions SET views = views + ? WHERE id = ?", params)

        await self.db.write(write)

    async def discussion(self, slug: str) -> Discussion | None:
        """By slug, case-insensitively (slugs are stored lower-case)."""
        row = await self.db.fetch_one(
            f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE d.slug = ?", (slug.lower(),)
        )
        return None if row is None else discussion_from_row(row)

    async def shown_discussion(self, slug: str) -> Discussion | None:
        """``discussion``, for what a request shows (pages, documents): from this
        process's copy when ``Store.keep_shown_rows`` turned copies on. Never for a
        decision a write depends on: the store's writes check the row themselves."""
        key = slug.lower()
        found, row = self.shown.get(key)
        if found:
            return row
        generation = self.shown.generation
        discussion = await self.discussion(key)
        self.shown.put(key, discussion, generation)
        return discussion

    async def discussions(self, limit: int = 200) -> list[tuple[Discussion, Note]]:
        """Live discussions, most recently active first, each with its opening post."""
        rows = await self.db.fetch_all(
            f"SELECT {DISCUSSION_COLS}, {NOTE_COLS} FROM discussions d "
            "JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 "
            "LEFT JOIN actors a ON a.id = n.author_id "
            "WHERE d.state != 'deleted' ORDER BY d.last_activity_at DESC, "
            # ties within a second: the newest note id decides
            "(SELECT max(n2.id) FROM notes n2 WHERE n2.discussion_id = d.id) DESC LIMIT ?",
            (limit,),
        )
        return [
            (
                discussion_from_row(split_row(r, 0, DISCUSSION_WIDTH)),
                note_from_row(split_row(r, DISCUSSION_WIDTH, None)),
            )
            for r in rows
        ]
