"""Backup while the server takes replies, restore elsewhere, start the restored copy
(issue #18): every discussion, note, follower, delivery and key is there, and the
restored instance signs with the same keys its followers know."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fedi_forum.activitypub import keys
from fedi_forum.activitypub.signatures import load_public_key
from fedi_forum.app import create_app
from fedi_forum.config import Settings
from tests.conftest import Live
from tests.support.http import AS2
from tests.support.live import live_server
from tests.support.process import clean_env
from tests.support.remote import RemoteServer

# backup and restore copy the SQLite file; on PostgreSQL an operator uses pg_dump
pytestmark = pytest.mark.sqlite_only

TABLES = ("discussions", "notes", "follows", "deliveries", "actors")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    clean = clean_env()
    return subprocess.run(
        [sys.executable, "-m", "fedi_forum", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        check=False,
    )


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def test_backup_under_load_restores_to_a_working_instance(
    live: Live, remote: RemoteServer, tmp_path: Path
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    for follower in (alice, bob):
        await follower.post(live.client, f"{group}/inbox", follower.activity("Follow", group))
    stop = asyncio.Event()

    async def write_load() -> int:
        n = 0
        while not stop.is_set():
            note = alice.note(f"bericht {n}", in_reply_to=f"{group}/m/0")
            r = await alice.post(live.client, f"{group}/inbox", alice.create(note))
            assert r.status_code == 202
            n += 1
        return n

    load = asyncio.create_task(write_load())
    await asyncio.sleep(0.5)
    archive = tmp_path / "forum.tar.gz"
    made = await asyncio.to_thread(
        _cli,
        "backup",
        str(archive),
        "--data-dir",
        str(live.settings.data_dir),
        "--keys-dir",
        str(live.settings.keys_dir),
        "--base-url",
        live.base_url,
    )
    await asyncio.sleep(0.3)
    stop.set()
    written = await load
    assert made.returncode == 0, made.stderr
    assert written > 5  # replies kept arriving while the snapshot was taken
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        manifest = orjson.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert sorted(tar.getnames()) == sorted(
            ["manifest.json", "data/fedi-forum.sqlite3"] + [f"keys/{k}" for k in manifest["keys"]]
        )
    assert manifest["base_url"] == live.base_url
    assert 0 < manifest["counts"]["notes"] < written + 2  # a snapshot, mid-load

    # restore elsewhere: refused into a non-empty place, refused under another URL
    home = tmp_path / "restored"
    target = ["--data-dir", str(home / "data"), "--keys-dir", str(home / "keys")]
    wrong = _cli("restore", str(archive), *target, "--base-url", "https://elsewhere.example")
    assert wrong.returncode == 2
    assert "can only be restored under that URL" in wrong.stderr
    restored = _cli("restore", str(archive), *target)
    assert restored.returncode == 0, restored.stderr
    again = _cli("restore", str(archive), *target)
    assert again.returncode == 2
    assert "restore only into empty ones" in again.stderr
    counts = _counts(home / "data" / "fedi-forum.sqlite3")
    assert counts == {t: manifest["counts"][t] for t in TABLES}
    assert counts["follows"] == 2
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    for path in [home / "data" / "fedi-forum.sqlite3", *(home / "keys").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # the restored copy runs (under its recorded URL) and signs with the same group key
    original_group = (await live.client.get("/d/park", headers={"Accept": AS2})).json()

    def make(_: str):  # type: ignore[no-untyped-def]
        return create_app(
            Settings(
                base_url=live.base_url,
                data_dir=home / "data",
                keys_dir=home / "keys",
                allow_loopback=True,
            )
        )

    async with live_server(make) as (url, _app), httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/readyz")).status_code == 200
        group_doc = (await client.get("/d/park", headers={"Accept": AS2})).json()
        assert group_doc["publicKey"] == original_group["publicKey"]
        context = (await client.get("/d/park/context")).json()
        assert context["totalItems"] == manifest["counts"]["notes"]
        followers = (await client.get("/d/park/followers")).json()
        assert followers["totalItems"] == 2
    private = keys.load_private_pem((home / "keys" / "group-park.pem").read_bytes())
    signature = private.sign(b"old and new", padding.PKCS1v15(), hashes.SHA256())
    load_public_key(group_doc["publicKey"]["publicKeyPem"]).verify(
        signature, b"old and new", padding.PKCS1v15(), hashes.SHA256()
    )


async def test_restore_under_another_address_only_when_told(
    live: Live, remote: RemoteServer, tmp_path: Path
) -> None:
    """`restore --base-url NEW --rewrite-ids` moves an instance: no value in the database
    names the old address afterwards, and the restored server publishes under the new
    one with the same keys; without the flag it is refused."""
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    note = alice.note("hallo", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    archive = tmp_path / "forum.tar.gz"
    settings = live.settings
    made = _cli(
        "backup",
        str(archive),
        "--data-dir",
        str(settings.data_dir),
        "--keys-dir",
        str(settings.keys_dir),
        "--base-url",
        live.base_url,
    )
    assert made.returncode == 0, made.stderr
    new = "https://forum.nieuw.example"
    home = tmp_path / "moved"
    target = ["--data-dir", str(home / "data"), "--keys-dir", str(home / "keys"), "--base-url", new]
    refused = _cli("restore", str(archive), *target)
    assert refused.returncode == 2
    assert "--rewrite-ids" in refused.stderr
    moved = _cli("restore", str(archive), *target, "--rewrite-ids")
    assert moved.returncode == 0, moved.stderr
    assert "follow again" in moved.stdout
    with sqlite3.connect(home / "data" / "fedi-forum.sqlite3") as conn:
        hits = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for column in conn.execute(f'PRAGMA table_info("{table}")'):
                found = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE instr("{column[1]}", ?) > 0',
                    (live.base_url,),
                ).fetchone()[0]
                if found:
                    hits.append((table, column[1]))
        assert hits == []
        assert conn.execute("SELECT value FROM meta WHERE key = 'base_url'").fetchone()[0] == new
        ours = conn.execute("SELECT count(*) FROM notes WHERE ap_id LIKE ?", (f"{new}/%",))
        assert ours.fetchone()[0] == 1  # the opening post; alice's reply stays hers

    def make(_: str):  # type: ignore[no-untyped-def]
        return create_app(
            Settings(
                base_url=new, data_dir=home / "data", keys_dir=home / "keys", allow_loopback=True
            )
        )

    original = (await live.client.get("/d/park", headers={"Accept": AS2})).json()
    async with live_server(make) as (url, _app), httpx.AsyncClient(base_url=url) as client:
        doc = (await client.get("/d/park", headers={"Accept": AS2})).json()
        assert doc["id"] == f"{new}/d/park"
        assert doc["publicKey"]["id"] == f"{new}/d/park#main-key"
        assert doc["publicKey"]["publicKeyPem"] == original["publicKey"]["publicKeyPem"]
        outbox = (await client.get("/d/park/outbox", headers={"Accept": AS2})).json()
        assert outbox["id"].startswith(new)
        page = (await client.get(outbox["first"].removeprefix(new), headers={"Accept": AS2})).json()
        items = page["orderedItems"]
        assert items
        assert all(item["id"].startswith(new) for item in items)
