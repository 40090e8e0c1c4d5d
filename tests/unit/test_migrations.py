"""Migrations: from an empty file and from every earlier version, to the same schema."""

import sqlite3
from pathlib import Path

import pytest

from fedi_forum.store.db import apply_migrations
from fedi_forum.store.migrations import MIGRATIONS, latest_version


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return sorted(
        (name, sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE sql IS NOT NULL AND name != 'schema_migrations'"
        )
    )


def test_versions_are_increasing_and_unique() -> None:
    versions = [v for v, _ in MIGRATIONS]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_empty_file_reaches_latest(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    assert apply_migrations(conn) == latest_version()
    tables = {name for name, _ in _schema(conn)}
    for table in (
        "discussions",
        "notes",
        "actors",
        "follows",
        "activities_seen",
        "deliveries",
        "blocks",
        "reports",
        "instances",
        "outbox",
        "tombstones",
        "meta",
    ):
        assert table in tables
    # applying again is a no-op
    assert apply_migrations(conn) == latest_version()


@pytest.mark.parametrize("start", [v for v, _ in MIGRATIONS])
def test_every_earlier_version_upgrades_to_the_same_schema(tmp_path: Path, start: int) -> None:
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite3", isolation_level=None)
    apply_migrations(fresh)
    old = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    assert apply_migrations(old, upto=start) == start
    assert apply_migrations(old) == latest_version()
    assert _schema(old) == _schema(fresh)


def test_a_failing_migration_leaves_nothing_half_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fedi_forum.store.db as db

    broken = ((1, "CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER);"),)
    monkeypatch.setattr(db, "MIGRATIONS", broken)
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        db.apply_migrations(conn)
    assert not conn.in_transaction
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "a" not in names
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 0


async def test_a_database_with_data_is_copied_before_it_is_migrated(tmp_path: Path) -> None:
    """Opening an older database copies it first (online backup), 0600 in a 0700
    folder, the newest three kept; a new or current database is not copied."""
    import stat

    from fedi_forum.store.db import Database

    path = tmp_path / "data" / "fedi-forum.sqlite3"
    path.parent.mkdir()
    for _ in range(4):  # four old databases migrated in turn: three copies kept
        for stale in path.parent.glob("fedi-forum.sqlite3*"):
            stale.unlink()
        conn = sqlite3.connect(path, isolation_level=None)
        apply_migrations(conn, upto=latest_version() - 1)
        conn.execute(
            "INSERT INTO blocks (kind, value, reason, created_at) "
            "VALUES ('domain', 'spam.example', 'spam', '2026-11-29T00:00:00Z')"
        )
        conn.close()
        db = Database(path)
        await db.open()
        await db.close()
    folder = tmp_path / "data" / "backups"
    copies = sorted(folder.glob("before-v*.sqlite3"))
    assert len(copies) == 3
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(copies[-1].stat().st_mode) == 0o600
    copy = sqlite3.connect(copies[-1])
    assert copy.execute("SELECT value FROM blocks").fetchall() == [("spam.example",)]
    assert copy.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == (
        latest_version() - 1
    )
    copy.close()
    fresh = tmp_path / "new" / "fedi-forum.sqlite3"
    fresh.parent.mkdir()
    db = Database(fresh)
    await db.open()
    await db.close()
    assert not (fresh.parent / "backups").exists()
