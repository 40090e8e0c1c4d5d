"""Remote actors we know (authors, followers, reporters): cached profiles and keys,
refreshed on key rotation, forgotten on the actor's own Delete."""

from __future__ import annotations

from fedi_forum.models import (
    RemoteActor,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    ACTOR_COLS,
    actor_from_row,
    bump_revision,
    mark_seen,
    remember_tombstone,
    upsert_actor,
)


class ActorStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def actor(self, actor_id: str) -> RemoteActor | None:
        row = await self.db.fetch_one(f"SELECT {ACTOR_COLS} FROM actors WHERE id = ?", (actor_id,))
        return None if row is None else actor_from_row(row)

    async def actor_by_key_id(self, key_id: str) -> RemoteActor | None:
        row = await self.db.fetch_one(
            f"SELECT {ACTOR_COLS} FROM actors WHERE key_id = ? AND state = 'active'", (key_id,)
        )
        return None if row is None else actor_from_row(row)

    async def upsert_actor(self, actor: RemoteActor) -> None:
        def write(conn: Conn) -> None:
            upsert_actor(conn, actor)

        await self.db.write(write)

    async def key_gone(self, key_id: str) -> None:
        """The key's owner answered 410 when we fetched the key again: the stored key
        no longer speaks for anyone (a later fetch that works makes its actor active
        again: ``upsert_actor``)."""

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE actors SET state = 'gone' WHERE key_id = ? AND state = 'active'",
                (key_id,),
            )

        await self.db.write(write)

    async def refresh_actor(self, actor: RemoteActor) -> None:
        """A new profile (name, avatar, key). Pages showing their notes change too, so
        those discussions get a new revision (it keys the page caches)."""

        def write(conn: Conn) -> None:
            upsert_actor(conn, actor)
            conn.execute(
                "UPDATE discussions SET revision = revision + 1 WHERE id IN "
                "(SELECT DISTINCT discussion_id FROM notes WHERE author_id = ?)",
                (actor.id,),
            )

        await self.db.write(write)

    async def delete_actor(self, *, activity_id: str, actor_id: str, now: str) -> None:
        """The actor deleted their account: they stop following, their notes become
        tombstones (keeping their places), their cached profile is marked gone."""

        def write(conn: Conn) -> None:
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

    async def actor_inboxes(self, actor_ids: list[str]) -> dict[str, str]:
        marks = ",".join("?" * len(actor_ids)) or "NULL"
        rows = await self.db.fetch_all(
            f"SELECT id, coalesce(shared_inbox, inbox) FROM actors WHERE id IN ({marks}) "
            "AND coalesce(shared_inbox, inbox) IS NOT NULL",
            actor_ids,
        )
        return {r[0]: r[1] for r in rows}
