"""Cached discussion rows (store/row_cache.py): pages, outbox pages and group actors
are served without a query, yet show every change — this process's at once, another
process's as soon as it can be known (PostgreSQL: its notification arrives; SQLite: the
next read, which asks data_version first) — and on PostgreSQL nothing is cached once
changes can no longer be heard."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

import psycopg
import pytest

from fedi_forum.store import row_cache
from fedi_forum.store.postgres import PgWriter
from fedi_forum.store.search import register_sqlite_functions
from tests.conftest import Live
from tests.integration.test_instances import cli
from tests.support.http import AS2, BROWSER

PG_ONLY = pytest.mark.postgresql_only(
    reason="about the copies NOTIFY keeps: runs with --engine postgresql"
)


async def _title(live: Live, as2: bool = False) -> str:
    if as2:
        return str((await live.client.get("/d/park", headers={"Accept": AS2})).json()["name"])
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    return page.split("<h1", 1)[1].split(">", 1)[1].split("<", 1)[0]


async def _kept(live: Live, slug: str) -> None:
    """The row is (soon) served from this process's copy. A notification may drop a
    copy just made (the listening connection hears this process's own writes too, a
    little later; view counts are written every few seconds): read until one stays."""
    async with asyncio.timeout(5):
        while True:
            await live.store.shown_discussion(slug)
            if live.store.shown.get(slug)[0]:  # no await since the read: nothing dropped it
                return
            await asyncio.sleep(0.01)


async def test_this_process_sees_its_own_change_at_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite: the writer's own drop, not a later question to data_version, must show it
    monkeypatch.setattr(row_cache, "VERSION_EVERY", 3600.0)
    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    assert live.store.shown.enabled
    for n in range(20):  # a race would show now and then: look many times
        assert await _title(live) == await _title(live, as2=True)
        await _kept(live, "park")
        await live.discussions.edit("park", title=f"Het park {n}")
        # read straight after the write returns, before the loop could hear anything
        shown = await live.store.shown_discussion("park")
        assert shown is not None
        assert shown.title == f"Het park {n}"
        assert await _title(live) == f"Het park {n}"
        assert await _title(live, as2=True) == f"Het park {n}"


async def test_another_process_change_arrives_by_notification(live: Live) -> None:
    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    assert await _title(live) == "Het park"
    await _kept(live, "park")
    done = await cli(live, "discussion", "edit", "park", "--title", "Het nieuwe park")
    assert done.returncode == 0, done.stderr
    async with asyncio.timeout(5):  # committed; a NOTIFY may still be on its way
        while await _title(live) != "Het nieuwe park":
            await asyncio.sleep(0.01)
    # a discussion another process makes is found, though its absence was cached
    assert (await live.client.get("/d/nieuw", headers=BROWSER)).status_code == 404
    await _kept(live, "nieuw")
    assert live.store.shown.get("nieuw") == (True, None)  # known not to exist
    made = await cli(live, "discussion", "create", "--slug", "nieuw", "--title", "N", "--body", "b")
    assert made.returncode == 0, made.stderr
    async with asyncio.timeout(5):
        while (await live.client.get("/d/nieuw", headers=BROWSER)).status_code != 200:
            await asyncio.sleep(0.01)


@PG_ONLY
async def test_when_changes_can_no_longer_be_heard_nothing_is_cached(live: Live) -> None:
    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    assert await _title(live) == "Het park"
    url = live.settings.database_url
    with psycopg.connect(url, autocommit=True) as db:
        # the listening connection: the one whose last statement was a LISTEN (the
        # writer's, which listens too, committed after its LISTEN)
        ended = db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'"
        ).fetchall()
        assert ended, "no listening connection found"
        async with asyncio.timeout(5):
            while live.store.shown.enabled:
                await asyncio.sleep(0.01)
        # a change no notification tells of: shown at once, from the database
        db.execute("UPDATE discussions SET title = 'Stil veranderd' WHERE slug = 'park'")
    assert await _title(live, as2=True) == "Stil veranderd"


@PG_ONLY
async def test_a_write_drops_its_rows_before_it_returns(live: Live) -> None:
    """This process's own change reaches its copies during the COMMIT (the writer's
    connection listens), not when the listening connection next hears it."""
    dropped: list[str | None] = []

    class Recorder:
        def drop(self, key: str | None) -> None:
            dropped.append(key)

        def stop(self) -> None:
            raise AssertionError("not lost")

        def validate_with(self, version: Callable[[], object]) -> None:
            del version
            raise AssertionError("PostgreSQL tells of changes; it is not asked")

    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    writer = live.store.db.writer
    assert isinstance(writer, PgWriter)
    writer.watchers.append(Recorder())
    try:
        await live.discussions.edit("park", title="Het andere park")
        assert "park" in dropped  # already, with no await in between
    finally:
        writer.watchers.pop()


@PG_ONLY
async def test_pages_and_documents_are_served_from_the_copy(live: Live) -> None:
    """What the copies save, shown by a change no notification tells of (triggers off,
    as only a superuser can): the page, outbox and actor still show the copy's row."""
    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    await _kept(live, "park")
    with psycopg.connect(live.settings.database_url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")  # no trigger, no NOTIFY
        db.execute("UPDATE discussions SET title = 'Ongemeld' WHERE slug = 'park'")
    # the actor first: the page counts a view, whose write (seconds later) notifies
    assert await _title(live, as2=True) == "Het park"
    assert await _title(live) == "Het park"
    live.store.shown.drop("park")  # as a notification would
    assert await _title(live) == "Ongemeld"


@pytest.mark.sqlite_only(reason="SQLite's copies are checked by data_version; PostgreSQL's above")
async def test_sqlite_serves_the_copy_until_anything_is_committed(live: Live) -> None:
    """SQLite notifies nobody: a copy is served only while data_version, asked before a
    read at most once a millisecond, is unchanged. A commit on a connection this process
    knows nothing of (as another process's would be) is shown a millisecond later."""
    await live.discussions.create(slug="park", title="Het park", body="Wat?", lang="nl")
    await live.discussions.create(slug="plein", title="Het plein", body="En?", lang="nl")
    assert live.store.shown.enabled
    await _kept(live, "plein")
    await _kept(live, "park")
    assert await _title(live, as2=True) == "Het park"
    assert live.store.shown.get("park")[0]  # served from the copy: no query was needed
    assert live.store.shown.get("plein")[0]
    with sqlite3.connect(live.settings.db_path) as db:
        register_sqlite_functions(db)  # the search index's trigger needs them
        db.execute("UPDATE discussions SET title = title || ' (elders veranderd)'")
    await asyncio.sleep(row_cache.VERSION_EVERY)
    assert await _title(live, as2=True) == "Het park (elders veranderd)"
    assert await _title(live) == "Het park (elders veranderd)"
    # every copy was forgotten, not only the one read first after the change
    plein = await live.client.get("/d/plein", headers={"Accept": AS2})
    assert plein.json()["name"] == "Het plein (elders veranderd)"
