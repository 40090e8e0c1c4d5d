"""Migrations: from an empty file and from every earlier version, to the same schema."""

import sqlite3
from pathlib import Path

import pytest

from fedi_forum.store.db import apply_migrations
from fedi_forum.store.migrations import MIGRATIONS, latest_version
from fedi_forum.store.pg_schema import POSTGRES_MIGRATIONS


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


# -- PostgreSQL: the same numbering, the same tables, columns and indexes ---------------


def test_both_engines_end_at_the_same_version() -> None:
    from fedi_forum.store.postgres import latest_versions

    sqlite_latest, pg_latest = latest_versions()
    assert sqlite_latest == pg_latest == latest_version()


# The search index differs by design: FTS5 and its shadow tables on SQLite, a tsvector
# table on PostgreSQL (store/search.py); tests/integration/test_search.py runs on both.
SEARCH_INDEX = "search_index"


def _pg_schema(url: str) -> dict[str, set[str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name != 'schema_migrations'"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
            "AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in columns:
        if not table.startswith(SEARCH_INDEX):
            found.setdefault(table, set()).add(column)
    found["(indexes)"] = {name for (name,) in indexes if not name.startswith(SEARCH_INDEX)}
    return found


def test_postgresql_schema_has_every_table_column_and_index_of_sqlite(
    tmp_path: Path, pg_template: str
) -> None:
    """The two schema lists are written by hand: this keeps them from drifting."""
    from tests.support.engines import fresh_database

    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(conn)
    expected: dict[str, set[str]] = {}
    for (table,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_migrations'"
    ).fetchall():
        if not table.startswith(SEARCH_INDEX):  # each engine's own (store/search.py)
            expected[table] = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
    expected["(indexes)"] = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    with fresh_database(pg_template) as url:
        assert _pg_schema(url) == expected


def test_postgresql_functions_that_run_statements_keep_their_plans(pg_template: str) -> None:
    """A LANGUAGE sql function that runs statements is parsed and planned again on
    every call (PostgreSQL 15): the search trigger's was, and cost each reply's note
    INSERT ~500 us of PostgreSQL's CPU (pg_schema 19). Only single-expression helpers,
    which the planner inlines into the query calling them, may stay LANGUAGE sql."""
    import psycopg

    from tests.support.engines import fresh_database

    with fresh_database(pg_template) as url, psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.pronamespace = 'public'::regnamespace ORDER BY p.proname"
        ).fetchall()
    languages: dict[str, str] = dict(rows)
    assert languages["ff_search_reindex"] == "plpgsql"
    assert {name for name, lang in rows if lang == "sql"} == {
        "ff_search_config",
        "ff_search_plain",
    }


@pytest.mark.parametrize("start", [v for v, _ in POSTGRES_MIGRATIONS])
def test_every_earlier_postgresql_version_upgrades_to_the_same_schema(
    pg_template: str, start: int
) -> None:
    """PostgreSQL's list begins at version 9 (created whole); from each version it has,
    a database with a discussion in it reaches the schema a new one has."""
    import psycopg

    from fedi_forum.store.postgres import apply_pg_migrations
    from tests.support.engines import fresh_database

    with fresh_database("template0") as old, fresh_database(pg_template) as fresh:
        assert apply_pg_migrations(old, upto=start) == start
        with psycopg.connect(old, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO discussions (slug, title, lang, public_key_pem, created_at, "
                "updated_at, last_activity_at) VALUES ('park', 'Park', 'nl', 'k', 't', 't', 't')"
            )
        assert apply_pg_migrations(old) == latest_version()
        assert _pg_schema(old) == _pg_schema(fresh)
        with psycopg.connect(old) as conn:
            assert conn.execute("SELECT slug FROM discussions").fetchall() == [("park",)]


def test_postgresql_migrates_from_empty_once_and_refuses_a_newer_schema(pg_template: str) -> None:
    import psycopg

    from fedi_forum.store.db import SchemaTooNew
    from fedi_forum.store.postgres import apply_pg_migrations
    from tests.support.engines import database_url, fresh_database

    with fresh_database("template0") as url:  # an empty database
        assert apply_pg_migrations(url) == latest_version()
        assert apply_pg_migrations(url) == latest_version()  # again: nothing to do
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_migrations VALUES (999, 'later')")
        with pytest.raises(SchemaTooNew):
            apply_pg_migrations(url)
    assert database_url(pg_template).endswith(pg_template)


_V12_NOTES = (
    "INSERT INTO discussions (slug, title, lang, public_key_pem, created_at, updated_at, "
    "last_activity_at) VALUES ('park', 'Het park', 'nl', 'k', 't', 't', 't')",
    "INSERT INTO notes (discussion_id, seq, ap_id, author_id, content, visibility, "
    "published, accepted_at) VALUES (1, 0, 'https://h/d/park/m/0', 'a', '<p>Open</p>', "
    "'public', 't', 't'), (1, 1, 'https://x/1', 'a', '<p>Meer bomen</p>', 'public', 't', 't'),"
    " (1, 2, 'https://x/2', 'a', '<p>Stille bomen</p>', 'unlisted', 't', 't')",
)


def test_migration_13_indexes_what_an_earlier_sqlite_database_holds(tmp_path: Path) -> None:
    """Upgrading puts the public messages already there into the search index."""
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(conn, upto=12)
    for sql in _V12_NOTES:
        conn.execute(sql)
    apply_migrations(conn)
    rows = conn.execute("SELECT rowid, title, body FROM search_index ORDER BY rowid").fetchall()
    assert rows == [(1, "het park", "oop"), (2, "", "meer boom")]  # stems; not the unlisted


def test_migration_13_indexes_what_an_earlier_postgresql_database_holds(
    pg_template: str,
) -> None:
    import psycopg

    from fedi_forum.store.postgres import apply_pg_migrations
    from tests.support.engines import fresh_database

    del pg_template  # the PostgreSQL server is up
    with fresh_database("template0") as url:
        apply_pg_migrations(url, upto=12)
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in _V12_NOTES:
                conn.execute(sql)
        apply_pg_migrations(url)
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT note_id FROM search_index "
                "WHERE document @@ to_tsquery('dutch', 'boom') ORDER BY note_id"
            ).fetchall()
    assert rows == [(2,)]


def test_a_fan_out_reads_its_inboxes_from_the_index_alone(tmp_path: Path) -> None:
    """Migration 18: the distinct inboxes of a discussion's or a category's followers
    are one walk of an index: no table rows, no temporary B-tree for DISTINCT (10,000
    followers: 4.5 ms before, 0.23 ms after)."""
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_migrations(conn)
    for where, index in (  # as store/primitives.py asks
        ("discussion_id = ?", "follows_discussion_inbox"),
        ("category_id IN (?)", "follows_category_inbox"),
    ):
        plan = " ".join(
            str(step[3])
            for step in conn.execute(
                "EXPLAIN QUERY PLAN SELECT DISTINCT coalesce(shared_inbox, inbox) "
                f"FROM follows WHERE {where}",
                (1,),
            )
        )
        assert f"USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
