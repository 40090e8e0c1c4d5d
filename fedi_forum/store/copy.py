"""``fedi-forum db copy --to postgresql://…``: move an instance from its SQLite file to
PostgreSQL (offline: stop the server first). Every table is copied in one PostgreSQL
transaction, parents before children (foreign keys), then each table's row count and a
checksum of its rows (order-free: the engines sort text differently) are compared on
both sides; any difference
rolls the whole copy back. A target that already holds data is refused, so running it
twice changes nothing. Keys stay where they are (the keys directory).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import psycopg

from fedi_forum.errors import Conflict, InvalidInput
from fedi_forum.store.db import schema_version
from fedi_forum.store.migrations import latest_version
from fedi_forum.store.postgres import apply_pg_migrations

SKIP = frozenset({"schema_migrations"})  # each side keeps its own record
# FTS5's table and its shadow tables: PostgreSQL builds its own index from the notes
# copied into it (its triggers), in its own form.
SEARCH_INDEX = "search_index"


@dataclasses.dataclass(frozen=True, slots=True)
class Copied:
    """Rows and checksum per table, equal on both sides."""

    tables: dict[str, tuple[int, str]]


def _tables(conn: sqlite3.Connection) -> list[str]:
    """Every table, parents before the tables whose foreign keys point at them."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        if r[0] not in SKIP and not r[0].startswith(SEARCH_INDEX)
    ]
    parents = {
        name: {r[2] for r in conn.execute(f'PRAGMA foreign_key_list("{name}")')} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:
            raise InvalidInput("foreign keys form a cycle")  # not in our schema
        ordered += ready
    return ordered


def _columns(conn: sqlite3.Connection, table: str) -> tuple[list[str], bool]:
    """(its columns, whether ``id`` is an integer row id: an identity on PostgreSQL)."""
    info = list(conn.execute(f'PRAGMA table_info("{table}")'))
    rowid = any(r[1] == "id" and r[2].upper() == "INTEGER" and r[5] for r in info)
    return [r[1] for r in info], rowid


def _digest(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """(rows, a checksum of the multiset of rows): the sum of each row's SHA-256, so
    the order rows come in does not matter, and one row changed or lost changes it."""
    total = 0
    n = 0
    for row in rows:
        total += int.from_bytes(hashlib.sha256(orjson.dumps(list(row), default=_blob)).digest())
        n += 1
    return n, f"{total % 2**256:064x}"


def _blob(value: Any) -> str:
    """Bytes (an image in discussion_images) in the checksum, the same on both sides."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot checksum {type(value).__name__}")


def copy_to_postgresql(sqlite_path: Path, url: str) -> Copied:
    """Copy the SQLite database at ``sqlite_path`` into the (empty) database at ``url``."""
    if not sqlite_path.exists():
        raise InvalidInput(f"no database at {sqlite_path}")
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        if schema_version(source) != latest_version():
            raise InvalidInput(
                f"the SQLite database is at version {schema_version(source)}: run "
                f"fedi-forum migrate first (this fedi-forum copies version {latest_version()})"
            )
        apply_pg_migrations(url)
        tables = _tables(source)
        with psycopg.connect(url) as target, target.transaction():
            for table in tables:
                if target.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
                    raise Conflict(
                        f"{table} already holds rows",
                        public_message="the target database is not empty: nothing was copied",
                    )
            copied: dict[str, tuple[int, str]] = {}
            for table in tables:
                columns, rowid = _columns(source, table)
                cols = ", ".join(f'"{c}"' for c in columns)
                select = f'SELECT {cols} FROM "{table}"'  # names from our own schema
                with target.cursor().copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                    for row in source.execute(select):
                        copy.write_row(row)
                if rowid:  # the identity goes on after the copied ids
                    target.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f'coalesce(max(id), 1), max(id) IS NOT NULL) FROM "{table}"'
                    )
                mine = _digest(source.execute(select))
                theirs = _digest(target.execute(select).fetchall())
                if mine != theirs:
                    raise Conflict(
                        f"{table}: {mine} rows/checksum here, {theirs} there",
                        public_message=f"{table} differs after copying: nothing was copied",
                    )
                copied[table] = mine
        return Copied(copied)
    finally:
        source.close()
