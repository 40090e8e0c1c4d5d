"""The store on both engines (a real SQLite file, a real PostgreSQL database): group
commit, ordering, keyset pages. Tests named for SQLite test what only SQLite has."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fedi_forum.config import Settings
from fedi_forum.errors import Conflict, InvalidInput, InvalidSlug, NotFound
from fedi_forum.forum.discussions import Discussions
from fedi_forum.models import DiscussionState, NewNote, utcnow
from fedi_forum.store import Database, Outgoing, Store
from fedi_forum.store.conn import Conn, ConstraintViolation
from fedi_forum.store.engine import Engine
from fedi_forum.store.keyfiles import KeyFiles
from fedi_forum.store.postgres import PostgresDatabase
from tests.support.engines import open_database
from tests.support.seed import add_replies, remote_actor


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database("sqlite", tmp_path, None) as database:
        assert isinstance(database, Database)
        yield database


@pytest.fixture
def discussions(db: Engine, settings: Settings) -> Discussions:
    return Discussions(settings, Store(db), KeyFiles(settings.keys_dir))


async def test_writer_commits_many_concurrent_writes_in_few_transactions(db: Engine) -> None:
    assert isinstance(db, Database | PostgresDatabase)
    commits: list[int] = []
    original = db.writer._commit

    def counting(fns):  # type: ignore[no-untyped-def]
        commits.append(len(fns))
        return original(fns)

    db.writer._commit = counting  # type: ignore[method-assign]

    def make(i: int):  # type: ignore[no-untyped-def]
        def write(conn: Conn) -> int:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", str(i)))
            return i

        return write

    results = await asyncio.gather(*(db.write(make(i)) for i in range(300)))
    assert results == list(range(300))
    assert sum(commits) == 300
    assert len(commits) < 300 / 4  # grouped, not one transaction each
    row = await db.fetch_one("SELECT count(*) FROM meta WHERE key LIKE 'k%'")
    assert row[0] == 300


async def test_one_failing_write_does_not_undo_its_batch(db: Engine) -> None:
    def good(conn: Conn) -> str:
        conn.execute("INSERT INTO meta VALUES ('good', '1')")
        return "ok"

    def bad(conn: Conn) -> None:
        conn.execute("INSERT INTO meta VALUES ('bad', '1')")
        raise ValueError("boom")

    results = await asyncio.gather(db.write(good), db.write(bad), return_exceptions=True)
    assert results[0] == "ok"
    assert isinstance(results[1], ValueError)
    keys = {r[0] for r in await db.fetch_all("SELECT key FROM meta")}
    assert "good" in keys
    assert "bad" not in keys


async def test_what_a_write_reads_in_its_batch_is_the_truth(db: Engine) -> None:
    """Inside a group commit a write reads rowcounts, rows and its own earlier changes
    as they are, and an error of a statement whose answer it never read fails that
    write only (the guard a pipelined writer — tried on PostgreSQL, not kept: docs/
    postgresql.md — would have needed)."""

    def counted(conn: Conn) -> tuple[int, int, Any]:
        conn.execute("INSERT INTO meta VALUES ('c1', '1'), ('c2', '1')")
        updated = conn.execute("UPDATE meta SET value = '2' WHERE key LIKE 'c%'").rowcount
        again = conn.execute(
            "INSERT INTO meta VALUES ('c1', '9') ON CONFLICT (key) DO NOTHING"
        ).rowcount
        row = conn.execute("SELECT value FROM meta WHERE key = 'c2'").fetchone()
        return updated, again, row[0]

    def clashing(conn: Conn) -> str:
        conn.execute("INSERT INTO meta VALUES ('dup', '1')")
        conn.execute("INSERT INTO meta VALUES ('dup', '2')")  # its error: read by no one
        conn.execute("INSERT INTO meta VALUES ('after', '1')")
        return "never"

    def fine(conn: Conn) -> str:
        conn.execute("INSERT INTO meta VALUES ('fine', '1')")
        return "ok"

    assert await db.write(counted) == (2, 0, "2")  # a batch of its own: pipelined
    results = await asyncio.gather(db.write(clashing), db.write(fine), return_exceptions=True)
    assert isinstance(results[0], ConstraintViolation)
    assert results[1] == "ok"
    keys = {r[0] for r in await db.fetch_all("SELECT key FROM meta")}
    assert {"c1", "c2", "fine"} <= keys
    assert not {"dup", "after"} & keys


async def test_sqlite_stop_finishes_queued_writes(tmp_path: Path) -> None:
    database = Database(tmp_path / "db.sqlite3")
    await database.open()

    def write(conn: Conn) -> None:
        conn.execute("INSERT INTO meta VALUES ('late', '1')")

    pending = asyncio.ensure_future(database.write(write))
    await asyncio.sleep(0)
    await database.close()
    await pending
    conn = sqlite3.connect(tmp_path / "db.sqlite3")
    assert conn.execute("SELECT value FROM meta WHERE key='late'").fetchone() == ("1",)


async def test_create_discussion_stores_opening_post_and_outbox(discussions: Discussions) -> None:
    d = await discussions.create(
        slug="Verkeer_2026", title="  Verkeer   in de wijk ", body="Hoe?", lang="nl"
    )
    assert d.slug == "verkeer_2026"
    assert d.title == "Verkeer in de wijk"
    assert d.last_seq == 0
    assert d.reply_count == 0
    assert d.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    store = discussions.store
    assert (await store.discussion("VERKEER_2026")) == d  # case-insensitive
    opening = await store.note(d.id, 0)
    assert opening is not None
    assert opening.is_local
    assert opening.content == "<p>Hoe?</p>"  # the title is the Article's name
    assert await store.outbox_count(d.id) == 1
    assert isinstance(discussions.keyring, KeyFiles)
    key_file = discussions.keyring.path_for("group-verkeer_2026")
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("slug", "error"),
    [
        pytest.param("", InvalidSlug, id="empty"),
        pytest.param("a" * 31, InvalidSlug, id="too-long"),
        pytest.param("met-streep", InvalidSlug, id="dash"),
        pytest.param("über", InvalidSlug, id="non-ascii"),
        pytest.param("admin", InvalidSlug, id="reserved"),
        pytest.param("../x", InvalidSlug, id="path"),
    ],
)
async def test_bad_slugs_are_refused(discussions: Discussions, slug: str, error: type) -> None:
    with pytest.raises(error):
        await discussions.create(slug=slug, title="t", body="b", lang="nl")


async def test_duplicate_slug_and_bad_fields_are_refused(discussions: Discussions) -> None:
    await discussions.create(slug="dup", title="t", body="b", lang="nl")
    with pytest.raises(Conflict):
        await discussions.create(slug="DUP", title="t", body="b", lang="nl")
    with pytest.raises(InvalidInput):
        await discussions.create(slug="x1", title="", body="b", lang="nl")
    with pytest.raises(InvalidInput):
        await discussions.create(slug="x2", title="t", body=" ", lang="nl")
    with pytest.raises(InvalidInput):
        await discussions.create(slug="x3", title="t", body="b", lang="de")
    with pytest.raises(NotFound):
        await discussions.set_state("nope", DiscussionState.LOCKED)


async def test_replies_get_dense_ordered_seqs_and_duplicates_are_ignored(
    discussions: Discussions,
) -> None:
    d = await discussions.create(slug="orde", title="t", body="b", lang="nl")
    store = discussions.store
    seqs = await asyncio.gather(*(add_replies(store, d, 1, start=i) for i in range(40)))
    assert sorted(s[0] for s in seqs) == list(range(1, 41))
    dup = NewNote(
        ap_id="https://mastodon.example/users/alice/statuses/" + f"{d.id}-0",
        activity_id=None,
        author_id=remote_actor().id,
        in_reply_to=None,
        content="x",
        summary=None,
        sensitive=False,
        lang=None,
        url=None,
        visibility="public",
        published=utcnow(),
        updated=None,
        raw=None,
        accepted_at=utcnow(),
    )
    assert await store.append_note(d.id, dup) is None
    fresh = await store.discussion("orde")
    assert fresh is not None
    assert fresh.last_seq == 40
    assert fresh.reply_count == 40
    assert fresh.revision == 40


async def test_notes_page_is_keyset_and_includes_the_opening_post(discussions: Discussions) -> None:
    d = await discussions.create(slug="lang", title="t", body="b", lang="nl")
    await add_replies(discussions.store, d, 120)
    page = await discussions.store.notes_page(d.id, 51, 100)
    assert [n.seq for n in page] == [0, *range(51, 101)]
    assert page[1].author.handle == "@alice@mastodon.example"
    parent = page[1].ap_id
    seqs = await add_replies(discussions.store, d, 1, in_reply_to=parent, start=500)
    reply = await discussions.store.note(d.id, seqs[0])
    assert reply is not None
    assert reply.in_reply_to_seq == 51


async def test_views_and_base_url_claim(discussions: Discussions) -> None:
    d = await discussions.create(slug="kijk", title="t", body="b", lang="nl")
    await discussions.store.add_views({d.id: 3})
    await discussions.store.add_views({d.id: 2})
    fresh = await discussions.store.discussion("kijk")
    assert fresh is not None
    assert fresh.views == 5
    assert await discussions.store.claim_base_url("https://a.nl") == "https://a.nl"
    assert await discussions.store.claim_base_url("https://b.nl") == "https://a.nl"


def _remote_note(ap_id: str, in_reply_to: str | None = None) -> NewNote:
    return NewNote(
        ap_id=ap_id,
        activity_id=None,
        author_id="https://a.example/users/x",
        in_reply_to=in_reply_to,
        content="<p>x</p>",
        summary=None,
        sensitive=False,
        lang=None,
        url=None,
        visibility="public",
        published="2026-11-28T10:00:00Z",
        updated=None,
        raw=None,
        accepted_at="2026-11-28T10:00:00Z",
    )


async def test_remote_notes_take_the_groups_order_after_a_backfill(db: Engine) -> None:
    """Live arrivals come first (arrival order); the backfill's context listing then puts
    the group's history in its order, and notes it did not list stay after, in order."""
    store = Store(db)
    group = dataclasses.replace(remote_actor("park"), id="https://a.example/d/park", type="Group")
    follow = Outgoing("https://b.example/actor#follows/1", "{}", "https://b.example/actor")
    g = await store.start_remote_follow(
        group=group,
        handle="Park@a.example",
        follow=follow,
        inbox="https://a.example/inbox",
        now=utcnow(),
    )
    assert g.handle == "park@a.example"
    assert (
        await store.answer_remote_follow(
            group_actor=group.id,
            follow_id="https://b.example/actor#follows/other",
            accepted=True,
            now=utcnow(),
        )
        is None
    )
    base = "https://a.example/d/park/m/"
    live = [_remote_note(f"{base}5", in_reply_to=f"{base}1"), _remote_note(f"{base}9")]
    assert await store.add_remote_notes(g.id, live, [], utcnow()) == 2
    history = [_remote_note(f"{base}{i}") for i in (0, 1, 2)]
    assert await store.add_remote_notes(g.id, [*history, live[0]], [], utcnow()) == 3
    await store.order_remote_notes(g.id, [f"{base}{i}" for i in (0, 1, 2, 5)], utcnow())
    notes = await store.remote_notes_page(g.id, 0, 50)
    assert [n.ap_id.removeprefix(base) for n in notes] == ["0", "1", "2", "5", "9"]
    assert [n.seq for n in notes] == [0, 1, 2, 3, 4]
    assert notes[3].in_reply_to_seq == 1
    assert (await store.remote_group(group.id)).note_count == 5  # type: ignore[union-attr]
    assert await store.remove_remote_note(g.id, f"{base}2", utcnow())
    assert not await store.remove_remote_note(g.id, f"{base}2", utcnow())
    assert (await store.remote_notes_page(g.id, 2, 2))[0].state == "deleted"


async def test_sqlite_checkpoints_run_beside_the_writer_not_inside_its_commit(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    """A COMMIT no longer waits for a checkpoint (its fsync): the writer leaves the WAL
    alone, the Checkpointer copies it into the database file within about a second."""
    main_file = db.path

    def big(conn: Conn) -> None:
        for i in range(6):  # 6 MB: past SQLite's default 1,000-page auto-checkpoint
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"big{i}", "x" * 2**20))

    before = main_file.stat().st_size
    await db.write(big)
    assert main_file.stat().st_size < before + 2**20  # committed to the WAL only
    async with asyncio.timeout(5):
        while main_file.stat().st_size < before + 6 * 2**20:
            await asyncio.sleep(0.1)


async def test_sqlite_wal_file_is_cut_back_once_it_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAL that grew (a burst of writes the checkpoints could not keep up with) is
    cut back to the limit once SQLite starts it over, instead of keeping its size on
    disk for good."""
    from fedi_forum.store import db as db_module

    monkeypatch.setattr(db_module, "WAL_SIZE_LIMIT", 2**20)
    async with open_database("sqlite", tmp_path, None) as db:
        assert isinstance(db, Database)
        wal = db.path.with_name(db.path.name + "-wal")

        def big(conn: Conn) -> None:
            for i in range(6):
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", (f"big{i}", "x" * 2**20)
                )

        count = iter(range(1000))

        def small(conn: Conn) -> None:  # a change (SQLite writes nothing for no change)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'big0'", (str(next(count)),))

        await db.write(big)
        assert wal.stat().st_size > 6 * 2**20
        # SQLite starts the WAL over at the first write after a checkpoint copied all of
        # it while no reader was inside it: the Checkpointer runs every second.
        async with asyncio.timeout(5):
            while wal.stat().st_size > 2 * 2**20:  # without the limit: over 6 MB for good
                await asyncio.sleep(0.1)
                await db.write(small)


async def test_postgresql_batches_that_deadlock_across_hosts_commit_every_write(
    pg_template: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Two hosts' batches take two rows in opposite orders (as two web processes take
    discussions and actors): instead of waiting out PostgreSQL's deadlock detection and
    running the same batch into the same deadlock again, the batch that met the other
    runs its writes one by one, and every write commits once."""
    import time

    from tests.support.engines import fresh_database

    with fresh_database(pg_template) as url:
        a, b = PostgresDatabase(url), PostgresDatabase(url)
        for host in (a, b):
            await host.open()
        try:

            def setup(conn: Conn) -> None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('x', ''), ('y', '')")

            await a.write(setup)

            def touch(key: str, hold: float, who: str):  # type: ignore[no-untyped-def]
                def write(conn: Conn) -> str:
                    conn.execute("UPDATE meta SET value = value || ? WHERE key = ?", (who, key))
                    time.sleep(hold)  # in the writer's thread: the lock is held meanwhile
                    return key

                return write

            with caplog.at_level("INFO", logger="fedi_forum.store.postgres"):
                done = await asyncio.gather(
                    a.write(touch("x", 0.3, "a")),
                    a.write(touch("y", 0, "a")),
                    b.write(touch("y", 0.3, "b")),
                    b.write(touch("x", 0, "b")),
                )
            assert list(done) == ["x", "y", "y", "x"]
            rows = dict(await a.fetch_all("SELECT key, value FROM meta WHERE key IN ('x', 'y')"))
            assert sorted(rows["x"]) == sorted(rows["y"]) == ["a", "b"]  # each write once
            assert "go one by one" in caplog.text
        finally:
            for host in (a, b):
                await host.close()


async def test_postgresql_web_hosts_write_batches_take_turns(
    pg_template: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Web processes' batches take turns (PostgresDatabase.take_turns): a batch waits
    for the other host's to commit, however long that takes, instead of meeting its row
    locks; so it never runs its writes one by one, and never fails."""
    import time

    from tests.support.engines import fresh_database

    with fresh_database(pg_template) as url:
        a, b = PostgresDatabase(url), PostgresDatabase(url)
        for host in (a, b):
            await host.open()
            host.take_turns()
        try:

            def slow(conn: Conn) -> float:
                conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
                time.sleep(0.4)  # in the writer's thread: the turn is held meanwhile
                return time.monotonic()

            def quick(conn: Conn) -> float:
                conn.execute("INSERT INTO meta (key, value) VALUES ('b', '1')")
                return time.monotonic()

            with caplog.at_level("INFO", logger="fedi_forum.store.postgres"):
                first = asyncio.create_task(a.write(slow))
                await asyncio.sleep(0.1)  # a holds its turn
                a_done, b_done = await asyncio.gather(first, b.write(quick))
            assert b_done >= a_done  # b's write ran after a's batch, not beside it
            assert "go one by one" not in caplog.text  # waited 0.3 s > lock_timeout
            rows = dict(await b.fetch_all("SELECT key, value FROM meta WHERE key IN ('a', 'b')"))
            assert rows == {"a": "1", "b": "1"}
        finally:
            for host in (a, b):
                await host.close()


async def test_postgresql_claimers_on_two_hosts_never_lease_a_row_twice(pg_template: str) -> None:
    """Two engines on one database stand for two hosts: each claims, delivers and
    (after a success) leases the inbox's next lane head, all at once. FOR UPDATE SKIP
    LOCKED keeps any row from being leased twice, and per lane the order holds."""
    from fedi_forum.store.deliveries import Claim, DeliveryRow
    from fedi_forum.store.primitives import enqueue
    from tests.support.engines import fresh_database

    with fresh_database(pg_template) as url:
        hosts = [PostgresDatabase(url), PostgresDatabase(url)]
        for h in hosts:
            await h.open()
        try:
            now = utcnow()

            def seed(conn: Conn) -> None:
                for i in range(200):  # 10 inboxes x 4 subjects x 5 activities in order
                    inbox = f"https://s{i % 10}.example/inbox"
                    out = Outgoing(f"https://f.example/a/{i}", "{}", "https://f.example/d/x")
                    out = dataclasses.replace(out, subject=f"note-{i % 4}")
                    enqueue(conn, out, inbox, now)

            await hosts[0].write(seed)
            leased: list[tuple[str, int]] = []

            async def work(name: str, db: PostgresDatabase) -> None:
                store = Store(db)
                claim = Claim(
                    now=now,
                    lease_until="9999",
                    owner=name,
                    limit=7,
                    per_host=3,
                    start=3,
                    room={},
                    probe_before="0",
                )
                while await db.fetch_one(
                    "SELECT 1 FROM deliveries WHERE state = 'pending' AND locked_until IS NULL"
                ):
                    rows = await store.claim_deliveries(claim)
                    await asyncio.sleep(0)  # the other host's turn
                    for first in rows:
                        row: DeliveryRow | None = first
                        while row is not None:
                            leased.append((name, row.id))
                            row = await store.record_delivery(
                                row,
                                outcome="delivered",
                                status=202,
                                error=None,
                                next_attempt_at=None,
                                now=now,
                                lease_until="9999",
                                unavailable_after="0",
                                owner=name,
                            )

            await asyncio.gather(work("a", hosts[0]), work("b", hosts[1]))
        finally:
            for h in hosts:
                await h.close()
    ids = [row_id for _, row_id in leased]
    assert len(ids) == len(set(ids)) == 200  # every row once, none twice
    assert {name for name, _ in leased} == {"a", "b"}  # both hosts did work


async def test_postgresql_wakes_the_workers_of_every_host_when_deliveries_are_queued(
    pg_template: str,
) -> None:
    """A worker on host B learns at once (LISTEN/NOTIFY at COMMIT) that host A queued a
    delivery, instead of at its next poll; writes that leave the queue alone do not wake
    it."""
    from fedi_forum.store.primitives import enqueue
    from tests.support.engines import fresh_database

    with fresh_database(pg_template) as url:
        a, b = PostgresDatabase(url), PostgresDatabase(url)
        await a.open()
        await b.open()
        try:
            woken = asyncio.Event()
            await b.on_new_deliveries(woken.set)

            def meta(conn: Conn) -> None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")

            await a.write(meta)
            await asyncio.sleep(0.3)
            assert not woken.is_set()

            def queue(conn: Conn) -> None:
                out = Outgoing("https://f.example/a/1", "{}", "https://f.example/d/x")
                enqueue(conn, out, "https://s.example/inbox", utcnow())

            await a.write(queue)
            async with asyncio.timeout(2):  # the poll would take up to 1 s; this is ~ms
                await woken.wait()
        finally:
            await a.close()
            await b.close()


async def test_postgresql_a_lost_connection_is_a_503_and_the_next_write_reconnects(
    pg_template: str,
) -> None:
    """The server ends the writer's and the readers' connections (a restart, a failover):
    the batch in flight fails as DatabaseUnavailable (503, never a 500), is not run again
    (its COMMIT may or may not have arrived), and the next write and read work again."""
    import psycopg

    from fedi_forum.errors import DatabaseUnavailable
    from tests.support.engines import ADMIN_URL, fresh_database

    with fresh_database(pg_template) as url:
        db = PostgresDatabase(url)
        await db.open()
        try:

            def put(key: str):  # type: ignore[no-untyped-def]
                def write(conn: Conn) -> None:
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (key,))

                return write

            await db.write(put("before"))
            name = url.rsplit("/", 1)[1]
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid != pg_backend_pid()",
                    (name,),
                )
            with pytest.raises(DatabaseUnavailable):
                await db.write(put("lost"))
            await db.write(put("after"))  # reconnected
            for _ in range(8):  # the pool drops its dead connections as they fail
                with contextlib.suppress(DatabaseUnavailable):
                    await db.fetch_one("SELECT 1")
            keys = {r[0] for r in await db.fetch_all("SELECT key FROM meta")}
            assert {"before", "after"} <= keys
            assert "lost" not in keys
        finally:
            await db.close()
