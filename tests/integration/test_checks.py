"""Each security check has a test that fails when the check is removed (security issue
#11, item 18: seven checks could once be deleted together with the suite still green).
Over real HTTP, with real keys; our verifier is never mocked."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from starlette.applications import Starlette

from fedi_forum.app import create_app
from fedi_forum.config import Settings
from tests.conftest import Live
from tests.support.db import queued_deliveries, reactions_count
from tests.support.http import BROWSER, PASSWORD, csrf_token, login
from tests.support.live import live_server
from tests.support.remote import RemoteServer


async def _discussion(live: Live) -> str:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    return f"{live.base_url}/d/park"


async def test_an_actor_updates_only_itself(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    note = bob.note("van bob", in_reply_to=f"{group}/m/0")
    assert (await bob.post(live.client, f"{group}/inbox", bob.create(note))).status_code == 202
    forged_profile = {**bob.document(), "name": "Bob de Oplichter"}
    r = await alice.post(live.client, f"{group}/inbox", alice.activity("Update", forged_profile))
    assert r.status_code == 403
    cached = await live.store.actor(bob.id)
    assert cached is not None
    assert cached.name == "Bob"


async def test_nobody_undoes_someone_elses_activity(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    follow = bob.activity("Follow", group)
    like = bob.activity("Like", f"{group}/m/0")
    for activity in (follow, like):
        assert (await bob.post(live.client, f"{group}/inbox", activity)).status_code == 202
    for activity in (follow, like):
        r = await alice.post(live.client, f"{group}/inbox", alice.activity("Undo", activity))
        assert r.status_code == 403
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 1
    assert await reactions_count(live.store, f"{group}/m/0") == {"Like": 1}


async def test_a_key_must_belong_to_the_actor_both_ways(live: Live, remote: RemoteServer) -> None:
    """Mastodon's FetchRemoteKeyService: the actor's publicKey.id is the keyId, and the
    key's owner is the actor. Either mismatch: 401, nothing stored."""
    group = await _discussion(live)
    for name, change in (
        ("carol", lambda doc: doc["publicKey"].update(id=doc["id"] + "#another-key")),
        ("dave", lambda doc: doc["publicKey"].update(owner=doc["id"].replace("dave", "bob"))),
    ):
        actor = remote.actor(name, key_index=2)
        document = actor.document

        def mismatched(document=document, change=change):  # type: ignore[no-untyped-def]
            doc = document()
            change(doc)
            return doc

        actor.document = mismatched  # type: ignore[method-assign]
        note = actor.note("wie ben ik?", in_reply_to=f"{group}/m/0")
        r = await actor.post(live.client, f"{group}/inbox", actor.create(note))
        assert r.status_code == 401, name
        assert await live.store.note_location(note["id"]) is None


def _pem(key: object) -> str:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


async def test_only_rsa_keys_of_a_sane_size(live: Live, remote: RemoteServer) -> None:
    """An actor publishing an EC or Ed25519 key, or an RSA modulus under 1024 or over 8192
    bits (a cheap DoS on our verifier), is refused (401)."""
    group = await _discussion(live)
    tiny = rsa.RSAPublicNumbers(65537, 2**767 + 1).public_key()
    huge = rsa.RSAPublicNumbers(65537, 2**8999 + 1).public_key()
    for name, public in (
        ("ec", ec.generate_private_key(ec.SECP256R1()).public_key()),
        ("ed", ed25519.Ed25519PrivateKey.generate().public_key()),
        ("tiny", tiny),
        ("huge", huge),
    ):
        actor = remote.actor(name, key_index=3)
        document = actor.document

        def with_key(document=document, public=public):  # type: ignore[no-untyped-def]
            doc = document()
            doc["publicKey"]["publicKeyPem"] = _pem(public)
            return doc

        actor.document = with_key  # type: ignore[method-assign]
        r = await actor.post(live.client, f"{group}/inbox", actor.activity("Like", group))
        assert r.status_code == 401, name


@contextlib.asynccontextmanager
async def _limited(tmp_path: Path) -> AsyncIterator[Live]:
    made: dict[str, Settings] = {}

    def make(base_url: str) -> Starlette:
        made["s"] = Settings(
            base_url=base_url,
            data_dir=tmp_path / "d",
            keys_dir=tmp_path / "k",
            allow_loopback=True,
            inbox_rate=1,  # bursts of 10
        )
        return create_app(made["s"])

    async with live_server(make) as (base_url, app), httpx.AsyncClient(base_url=base_url) as c:
        yield Live(base_url, c, app.state.services, made["s"])


async def test_the_signing_server_has_a_budget_of_its_own(
    tmp_path: Path, remote: RemoteServer
) -> None:
    """Spread over client addresses (127.0.0.2, 127.0.0.3: each within its own budget),
    one signing server still gets only its own burst."""
    async with _limited(tmp_path) as live:
        group = await _discussion(live)
        alice = remote.actor("alice")
        statuses = []
        for address in ("127.0.0.2", "127.0.0.3"):
            transport = httpx.AsyncHTTPTransport(local_address=address)
            async with httpx.AsyncClient(transport=transport) as client:
                for _ in range(7):
                    like = alice.activity("Like", f"{group}/m/0")
                    statuses.append((await alice.post(client, f"{group}/inbox", like)).status_code)
        assert statuses[:10] == [202] * 10
        assert statuses[10:] == [429] * 4


async def test_admin_only_routes_refuse_moderators(live: Live) -> None:
    await _discussion(live)
    await live.services.staff.create("moderator", PASSWORD, "moderator")
    assert (await login(live.client, "moderator")).status_code == 303
    csrf = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    posts = {
        "/admin/discussions/new": {"slug": "nieuw", "title": "t", "body": "b", "lang": "nl"},
        "/admin/discussions/park/edit": {"title": "gekaapt", "body": "b", "summary": ""},
        "/admin/discussions/park/delete": {},
        "/admin/discussions/park/lock": {},
        "/admin/discussions/park/announce-off": {},
        "/admin/blocks/add": {"kind": "domain", "value": "x.example", "reason": "spam"},
        "/admin/blocks/import": {"csv": "x.example,suspend", "reason": "spam"},
        "/admin/instances/x.example/dialect": {"dialect": "group"},
        "/admin/remote/follow": {"handle": "x@y.example"},
    }
    for path, data in posts.items():
        r = await live.client.post(path, data={"csrf": csrf, **data}, headers=BROWSER)
        assert r.status_code == 403, path
    for path in (
        "/admin/federation",
        "/admin/discussions/new",
        "/admin/blocks/import",
        "/admin/discussions/park/edit",
    ):
        assert (await live.client.get(path, headers=BROWSER)).status_code == 403, path
    d = await live.store.discussion("park")
    assert d is not None
    assert (d.title, d.state.value, d.announce_replies) == ("Park", "open", True)
    assert await live.store.block_list() == []
    assert await live.store.discussion("nieuw") is None
    sent = [orjson.loads(p)["type"] for *_, p in await queued_deliveries(live.store)]
    assert sent == []
