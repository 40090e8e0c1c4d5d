"""Who follows each discussion: a Follow stored with its Accept queued in the same
transaction, Unfollow, and the followers collection."""

from __future__ import annotations

from fedi_forum.models import (
    RemoteActor,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    Outgoing,
    enqueue,
    mark_seen,
    upsert_actor,
    upsert_follower,
)


class FollowStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def record_follow(
        self,
        *,
        activity_id: str,
        discussion_id: int | None,
        follower: RemoteActor,
        reply: Outgoing,
        accepted: bool,
        now: str,
        category_id: int | None = None,
    ) -> bool:
        """Store the follower of a discussion (or of a category: ``category_id``) when
        ``accepted``, and queue the Accept (or Reject) to it."""

        def write(conn: Conn) -> bool:
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
                    category_id=category_id,
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

        def write(conn: Conn) -> int:
            if not mark_seen(conn, actor_id, activity_id, now):
                return 0
            cur = conn.execute(
                "DELETE FROM follows WHERE actor_id = ? AND "
                "(follow_activity_id = ? OR discussion_id = ?)",
                (actor_id, follow_id, discussion_id),
            )
            return cur.rowcount

        return await self.db.write(write)

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

        def write(conn: Conn) -> bool:
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
