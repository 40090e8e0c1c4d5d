"""Key resolution edge cases over real HTTP: RFC 9421 senders, acct: keyIds, the
negative cache and the per-host fetch budget."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from fedi_forum.activitypub.signatures import sign_request
from fedi_forum.federation import keys as keys_module
from tests.conftest import Live
from tests.support.http import AS2
from tests.support.remote import RemoteServer, rfc9421_headers


async def test_rfc9421_signed_reply_is_accepted(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    body = orjson.dumps(alice.create(alice.note("RFC 9421", in_reply_to=f"{group}/m/0")))
    r = await live.client.post(
        f"{group}/inbox", content=body, headers=rfc9421_headers(alice, f"{group}/inbox", body)
    )
    assert r.status_code == 202, r.text
    # the same signature does not cover another body
    other = body.replace(b"RFC 9421", b"RFC 9999")
    r = await live.client.post(
        f"{group}/inbox", content=other, headers=rfc9421_headers(alice, f"{group}/inbox", body)
    )
    assert r.status_code == 401
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 1


async def test_acct_key_ids_resolve_through_webfinger(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    host = remote.base_url.removeprefix("http://")
    body = orjson.dumps(alice.activity("Follow", group))
    headers = sign_request(
        method="POST",
        url=f"{group}/inbox",
        key_id=f"acct:alice@{host}",
        private_key=alice.key,
        body=body,
    )
    r = await live.client.post(f"{group}/inbox", content=body, headers=headers)
    assert r.status_code == 202, r.text
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 1


async def test_unknown_keys_are_cached_negatively_and_fetches_budgeted(
    live: Live, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    ghost = remote.actor("ghost")
    del remote.actors["ghost"]  # its server no longer knows it: 404
    body = orjson.dumps(ghost.activity("Follow", group))
    for _ in range(3):
        r = await ghost.post(live.client, f"{group}/inbox", body)
        assert r.status_code == 401
    assert remote.fetches.count(ghost.id) == 1  # negative cache: fetched once
    # a flood of distinct unknown keys on one host stops at the budget
    monkeypatch.setattr(keys_module, "HOST_BUDGET", 5)
    for i in range(12):
        someone = remote.actor(f"u{i}")
        del remote.actors[f"u{i}"]
        await someone.post(live.client, f"{group}/inbox", someone.activity("Follow", group))
    fetched = [f for f in remote.fetches if "/users/u" in f]
    assert len(fetched) == 4  # 5 per host per minute, one already spent on the ghost
    assert {r.status_code for r in [await ghost.post(live.client, f"{group}/inbox", body)]} == {401}
    assert live.services.keys.fetch_count == 5
    r = await live.client.post(f"{group}/inbox", content=b"{}", headers={"content-type": AS2})
    assert r.status_code == 400


async def test_many_new_actors_of_one_server_are_not_budgeted(
    live: Live, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only failed fetches spend the per-host budget: a popular server sending many new
    actors at once gets every key fetched (once each)."""
    monkeypatch.setattr(keys_module, "HOST_BUDGET", 3)
    monkeypatch.setattr(keys_module, "HOST_CONCURRENCY", 2)
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    people = [remote.actor(f"p{i}", key_index=i % 3) for i in range(8)]
    responses = await asyncio.gather(
        *(p.post(live.client, f"{group}/inbox", p.activity("Follow", group)) for p in people)
    )
    assert [r.status_code for r in responses] == [202] * 8
    assert sorted(f for f in remote.fetches if "/users/p" in f) == sorted(p.id for p in people)
