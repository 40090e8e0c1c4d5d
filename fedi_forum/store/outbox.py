"""Each discussion's outbox: what the Group published, newest first, keyset paged."""

from __future__ import annotations

from fedi_forum.models import (
    CollectionItem,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    add_to_outbox,
    bump_revision,
)


class OutboxStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

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
        def write(conn: Conn) -> None:
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
