"""Remote servers (the ``instances`` table): software and dialect from NodeInfo, the
signature spec that worked, an operator's dialect override, and their health as the
admin page and the metrics show it."""

from __future__ import annotations

import dataclasses
from typing import Any

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceInfo:
    host: str
    software: str | None
    dialect: str | None  # "microblog" | "group"
    dialect_override: str | None
    nodeinfo_fetched_at: str | None
    signature_spec: str | None = None  # "cavage" | "rfc9421": what it accepted last
    version: str | None = None


class ServerStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def instance(self, host: str) -> InstanceInfo | None:
        row = await self.db.fetch_one(
            "SELECT host, software, dialect, dialect_override, nodeinfo_fetched_at, "
            "signature_spec, version FROM instances WHERE host = ?",
            (host,),
        )
        return None if row is None else InstanceInfo(*row)

    async def set_instance_software(
        self, host: str, *, software: str | None, version: str | None, dialect: str, now: str
    ) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO instances (host, software, version, dialect, nodeinfo_fetched_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET "
                "software = excluded.software, version = excluded.version, "
                "dialect = excluded.dialect, nodeinfo_fetched_at = excluded.nodeinfo_fetched_at",
                (host, software, version, dialect, now),
            )

        await self.db.write(write)

    async def set_signature_spec(self, host: str, spec: str) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO instances (host, signature_spec) VALUES (?, ?) "
                "ON CONFLICT (host) DO UPDATE SET signature_spec = excluded.signature_spec",
                (host, spec),
            )

        await self.db.write(write)

    async def set_dialect_override(self, host: str, dialect: str | None) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO instances (host, dialect_override) VALUES (?, ?) "
                "ON CONFLICT (host) DO UPDATE SET dialect_override = excluded.dialect_override",
                (host, dialect),
            )

        await self.db.write(write)

    async def host_failures(self, top: int) -> tuple[list[tuple[str, int]], int]:
        """The ``top`` servers with the most failures in a row, and the sum of the rest
        (for a metric with a bounded label)."""
        rows = await self.db.fetch_all(
            "SELECT host, failures FROM instances WHERE failures > 0 "
            "ORDER BY failures DESC, host LIMIT ?",
            (top,),
            offload=True,
        )
        total = await self.db.fetch_one(
            "SELECT coalesce(sum(failures), 0) FROM instances WHERE failures > 0", offload=True
        )
        named = [(str(r[0]), int(r[1])) for r in rows]
        return named, int(total[0]) - sum(n for _, n in named)

    async def federation_health(self) -> dict[str, Any]:
        followers = await self.db.fetch_all(
            "SELECT d.slug, d.title, count(f.id) FROM discussions d "
            "LEFT JOIN follows f ON f.discussion_id = d.id WHERE d.state != 'deleted' "
            "GROUP BY d.id ORDER BY d.slug",
            offload=True,
        )
        instances = await self.db.fetch_all(
            "SELECT host, software, coalesce(dialect_override, dialect), failures, "
            "unavailable_since, last_seen_at FROM instances ORDER BY failures DESC, host "
            "LIMIT 200",
            offload=True,
        )
        pending = await self.db.fetch_all(
            "SELECT host, count(*) FROM deliveries WHERE state = 'pending' GROUP BY host",
            offload=True,
        )
        aside = await self.db.fetch_all(
            "SELECT id, activity_id, inbox, timeouts, last_error FROM deliveries "
            "WHERE state = 'aside' ORDER BY id DESC LIMIT 50",
            offload=True,
        )
        return {
            "followers": [tuple(r) for r in followers],
            "instances": [tuple(r) for r in instances],
            "pending": {r[0]: r[1] for r in pending},
            "aside": [tuple(r) for r in aside],
        }
