"""Reads (and one write) that only tests need, straight from the database: they are not
part of the store's production API."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import psycopg

from fedi_forum.config import Settings
from fedi_forum.store import Store
from fedi_forum.store.conn import Conn, placeholders


def run_sql(settings: Settings, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """One statement from outside the server (as an operator's psql or another process
    would), committed at once, on whichever engine ``settings`` name."""
    if settings.on_postgresql:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            cur = conn.execute(placeholders(query, "%s"), tuple(params))
            return list(cur.fetchall()) if cur.description else []
    with sqlite3.connect(settings.db_path) as db:
        return db.execute(query, params).fetchall()


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
