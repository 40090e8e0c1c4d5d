"""`fedi-forum db copy --to postgresql://…`: an instance that grew on SQLite moves to
PostgreSQL whole — discussions, ordered replies, followers, queued deliveries — with
counts and checksums compared, and keeps working there."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from fedi_forum.activitypub import keys
from fedi_forum.config import Settings
from fedi_forum.forum.categories import Categories
from fedi_forum.store import Store
from fedi_forum.store.keyring import keyring_for
from fedi_forum.store.postgres import PostgresDatabase
from tests.conftest import Live, live_instance
from tests.support.db import run_sql
from tests.support.engines import fresh_database, secret_file
from tests.support.process import run_cli
from tests.support.remote import RemoteServer

pytestmark = pytest.mark.sqlite_only  # the source is the SQLite file


@pytest.mark.usefixtures("pg_template")  # a PostgreSQL server to copy to (or a skip)
async def test_an_instance_moves_from_sqlite_to_postgresql_whole(
    tmp_path: Path, remote: RemoteServer
) -> None:
    home = tmp_path
    async with live_instance(home) as live:
        await _grow(live, remote)
        before = {
            t: run_sql(live.settings, f"SELECT count(*) FROM {t}")[0][0]
            for t in (
                "discussions",
                "notes",
                "follows",
                "deliveries",
                "actors",
                "outbox",
                "categories",
            )
        }
        base_url = live.base_url
    # the operator's commands record the address the instance is known by
    assert run_cli(home, "discussion", "list", "--base-url", base_url).returncode == 0
    with fresh_database("template0") as url:
        copied = run_cli(home, "db", "copy", "--to", url)
        assert copied.returncode == 0, copied.stderr
        assert "counts and checksums match" in copied.stdout, copied.stdout
        again = run_cli(home, "db", "copy", "--to", url)  # not empty now: refused
        assert again.returncode == 2
        assert "the target database is not empty: nothing was copied" in again.stderr
        db = PostgresDatabase(url)
        await db.open()
        try:
            store = Store(db)
            for table, count in before.items():
                row = await db.fetch_one(f"SELECT count(*) FROM {table}")
                assert row[0] == count, table
            assert await store.recorded_base_url() == base_url
            d = await store.discussion("park")
            assert d is not None
            notes = await store.notes_page(d.id, 1, 50)
            assert [n.seq for n in notes] == [0, 1, 2, 3]
            assert await store.followers_count(d.id) == 1
            assert d.category_id is not None
            assert await store.category_followers_count(d.category_id) == 1
            # the search index is PostgreSQL's own, built from the copied notes
            hits = await db.fetch_all(
                "SELECT count(*) FROM search_index WHERE document @@ to_tsquery('dutch', 'boom')"
            )
            assert hits[0][0] == 1
            icon = await store.discussion_image(d.id, "icon")
            assert icon is not None
            assert icon[0] == "image/png"
            assert icon[1].startswith(b"\x89PNG")
            # PostgreSQL keeps keys in the database: without a secret to seal them, no start
            refused = run_cli(home, "discussion", "list", "--database-url", url)
            assert refused.returncode == 2
            assert "set FEDI_FORUM_SECRET_FILE" in refused.stderr
            # with one, the keys directory's keys are taken over (the identities are kept)
            on_pg = {
                "FEDI_FORUM_DATABASE_URL": url,
                "FEDI_FORUM_SECRET_FILE": str(secret_file(home)),
            }
            listed = run_cli(home, "discussion", "list", env=on_pg)
            assert "park" in listed.stdout
            # the row ids go on after the copied ones
            create = ("discussion", "create", "--slug", "nieuw", "--title", "N", "--body", "H")
            created = run_cli(home, *create, env=on_pg)
            assert created.returncode == 0, created.stderr
            ids = await db.fetch_all("SELECT id FROM discussions ORDER BY id")
            assert [r[0] for r in ids] == [1, 2]
            sealed = {r[0] for r in await db.fetch_all("SELECT name FROM sealed_keys")}
            files = {p.name for p in (home / "keys").iterdir()}
            assert sealed == files | {"group-nieuw.pem"}  # every file taken over at the start
            assert {"instance.pem", "group-park.pem", "session.secret"} <= files
            assert "group-nieuw.pem" not in files  # made in the database
            # the copied discussion signs with the key its followers know
            park_key = keys.load_private_pem((home / "keys" / "group-park.pem").read_bytes())
            served = await db.fetch_one(
                "SELECT public_key_pem FROM discussions WHERE slug = 'park'"
            )
            assert keys.public_pem(park_key) == served[0]
            elsewhere = Settings(
                database_url=url, secret_file=secret_file(home), keys_dir=home / "another-host"
            )
            unsealed = await (await keyring_for(elsewhere, store)).load("group-park")
            assert unsealed.private_numbers() == park_key.private_numbers()
        finally:
            await db.close()


async def _grow(live: Live, remote: RemoteServer) -> None:
    # a category, with a follower: a follows row of the other kind (docs/categories.md)
    await Categories(live.settings, live.store, live.discussions.keyring).create(
        slug="groen", name="Groen"
    )
    await live.discussions.create(
        slug="park", title="Het park", body="Wat vindt u?", lang="nl", category="groen"
    )
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    assert (
        await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    ).status_code == 202
    category = f"{live.base_url}/c/groen"
    assert (
        await alice.post(live.client, f"{category}/inbox", alice.activity("Follow", category))
    ).status_code == 202
    parent = f"{group}/m/0"
    for text in ("Meer bankjes!", "En bomen.", "Graag <b>schaduw</b>."):
        note = alice.note(text, in_reply_to=parent, mention=group)
        r = await alice.post(live.client, f"{live.base_url}/inbox", alice.create(note))
        assert r.status_code == 202
        parent = note["id"]
    # an avatar: bytes in the database (a BLOB here, a bytea there)
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 90, 40)).save(png, format="PNG")
    await live.discussions.set_image("park", "icon", png.getvalue())


@pytest.mark.usefixtures("pg_template")
async def test_a_table_that_differs_after_copying_rolls_the_whole_copy_back(
    tmp_path: Path, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fedi_forum.errors import Conflict
    from fedi_forum.store import copy

    async with live_instance(tmp_path) as live:
        await _grow(live, remote)
        path = live.settings.db_path
    real = copy._digest
    calls: list[str] = []

    def lossy(rows):  # type: ignore[no-untyped-def]
        n, checksum = real(rows)
        calls.append(checksum)
        # the target side of a 4-row table (the 2nd digest of the pair) comes back different
        return (n, "0" * 64) if len(calls) % 2 == 0 and n == 4 else (n, checksum)

    monkeypatch.setattr(copy, "_digest", lossy)
    with fresh_database("template0") as url:
        with pytest.raises(Conflict, match="rows/checksum here"):
            copy.copy_to_postgresql(path, url)
        assert run_sql_pg(url, "SELECT count(*) FROM discussions") == 0  # nothing stayed


def run_sql_pg(url: str, query: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])
