"""This site's own facts: the base URL on record and the counts NodeInfo publishes."""

from __future__ import annotations

from fedi_forum.models import (
    InstanceStats,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine


class SiteStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def claim_base_url(self, base_url: str) -> str:
        """Record the base URL on first start; return the one on record.

        Every id we ever published embeds it, so it must not silently change.
        """

        def write(conn: Conn) -> str:
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
