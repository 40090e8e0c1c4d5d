"""``fedi-forum check``: what an operator runs after a crash, a restore or a disk scare.
SQLite's integrity and foreign-key checks, a key (file, or sealed in the database) for
every local actor that signs, deliveries that have waited too long, and a search index
out of step with the messages. Read-only: it never repairs anything."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.search import SEARCHABLE


def problems(db_path: Path, keys_dir: Path, *, stale_days: int = 3) -> list[str]:
    """Each problem in words; an empty list when all is well."""
    if not db_path.exists():
        return [f"no database at {db_path}"]
    found: list[str] = []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            found += [f"integrity: {r}" for r in rows[:20]]
        for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check").fetchall()[:20]:
            found.append(f"{table} row {rowid} points at a missing {parent} row")
        needed = [INSTANCE_KEY] + [
            f"group-{slug}"
            for (slug,) in conn.execute(
                "SELECT slug FROM discussions WHERE state != 'deleted' ORDER BY slug"
            )
        ]
        staff = conn.execute(
            "SELECT DISTINCT author_id FROM notes WHERE is_local = 1 AND author_id LIKE ?",
            ("%/staff/%",),
        ).fetchall()
        # forum/members.staff_key_name (the store cannot import the forum layer)
        needed += [f"staff-{author.rsplit('/', 1)[1]}" for (author,) in staff]
        needed += [
            f"category-{slug}"  # forum/categories.category_key_name
            for (slug,) in conn.execute("SELECT slug FROM categories ORDER BY slug")
        ]
        # a key is a file, or sealed in the database (FEDI_FORUM_SECRET_FILE: store/keyring.py)
        sealed = {r[0] for r in conn.execute("SELECT name FROM sealed_keys")}
        for name in needed:
            if f"{name}.pem" not in sealed and not (keys_dir / f"{name}.pem").is_file():
                found.append(
                    f"key file {name}.pem missing from {keys_dir} (and not sealed in the database)"
                )
        cutoff = (datetime.now(UTC) - timedelta(days=stale_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (stale,) = conn.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'pending' AND created_at < ?",
            (cutoff,),
        ).fetchone()
        if stale:
            found.append(f"{stale} deliveries pending for more than {stale_days} days")
        (indexed,) = conn.execute("SELECT count(*) FROM search_index").fetchone()
        (searchable,) = conn.execute(SEARCHABLE).fetchone()
        if indexed != searchable:
            found.append(
                f"the search index holds {indexed} messages where {searchable} are public: "
                "run `fedi-forum search reindex`"
            )
    finally:
        conn.close()
    return found
