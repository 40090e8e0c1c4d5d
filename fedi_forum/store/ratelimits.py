"""Store operations for the public forms' rate limits (web/ratelimit.py): hit counts
per client and fixed window, shared by every process and host through the database."""

from __future__ import annotations

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine


class RateLimitStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def count_hit(self, scope: str, client: str, slot: int) -> tuple[int, int]:
        """Count one hit in ``slot``; return (hits in the previous slot, hits in this one
        including this). The upsert is one statement, so hosts counting at once never
        lose a hit; windows two slots old are dropped on the way."""

        def write(conn: Conn) -> tuple[int, int]:
            now = conn.execute(
                "INSERT INTO rate_windows (scope, client, slot, hits) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (scope, client, slot) DO UPDATE SET hits = rate_windows.hits + 1 "
                "RETURNING hits",
                (scope, client, slot),
            ).fetchone()[0]
            before = conn.execute(
                "SELECT hits FROM rate_windows WHERE scope = ? AND client = ? AND slot = ?",
                (scope, client, slot - 1),
            ).fetchone()
            conn.execute("DELETE FROM rate_windows WHERE scope = ? AND slot < ?", (scope, slot - 1))
            return (0 if before is None else int(before[0])), int(now)

        return await self.db.write(write)
