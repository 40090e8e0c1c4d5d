"""Reads (and one write) that only tests need, straight from the database: they are not
part of the store's production API."""

from __future__ import annotations

from fedi_forum.store import Store
from fedi_forum.store.conn import Conn


async def deliveries_for(store: Store, activity_id: str) -> list[tuple[str, str, str]]:
    """(inbox, signer, payload) queued for one activity."""
    rows = await store.db.fetch_all(
        "SELECT inbox, signer, payload FROM deliveries WHERE activity_id = ? ORDER BY inbox",
        (activity_id,),
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def queued_deliveries(store: Store) -> list[tuple[str, str, str, str]]:
    """(activity_id, inbox, signer, payload) of every delivery ever queued, in order."""
    rows = await store.db.fetch_all(
        "SELECT activity_id, inbox, signer, payload FROM deliveries ORDER BY id"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def reactions_count(store: Store, ap_id: str) -> dict[str, int]:
    rows = await store.db.fetch_all(
        "SELECT r.kind, count(*) FROM reactions r JOIN notes n ON n.id = r.note_id "
        "WHERE n.ap_id = ? GROUP BY r.kind",
        (ap_id,),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def add_block(store: Store, kind: str, value: str, reason: str, now: str) -> None:
    """A block row as an import would leave it (without the moderation service)."""

    def write(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO blocks (kind, value, reason, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, value) DO NOTHING",
            (kind, value, reason, now),
        )

    await store.db.write(write)
