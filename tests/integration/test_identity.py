"""Identity and origin, end to end over real HTTP (security issue #11, items 1-6b): a
signer speaks only for itself, ids belong to their actor's host, dedupe cannot be
squatted, and state changes follow the declared transitions."""

from __future__ import annotations

import orjson

from fedi_forum.errors import Conflict
from fedi_forum.models import DiscussionState
from tests.conftest import Live
from tests.support.db import queued_deliveries, reactions_count, run_sql
from tests.support.http import BROWSER
from tests.support.remote import PUBLIC, RemoteServer, remote_server


async def _discussion(live: Live, slug: str = "park") -> str:
    await live.discussions.create(slug=slug, title="Het park", body="Wat vindt u?", lang="nl")
    return f"{live.base_url}/d/{slug}"


async def test_someone_elses_note_is_never_injected_as_a_reply(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    follow = alice.activity("Follow", group)
    assert (await alice.post(live.client, f"{group}/inbox", follow)).status_code == 202
    # bob's public note that never addressed the discussion
    bobs = bob.note("mijn eigen bericht, nergens over het park")
    # embedded in alice's Create, sent to the discussion's inbox: refused (403)
    embedded = alice.activity("Create", bobs)
    r = await alice.post(live.client, f"{group}/inbox", embedded)
    assert r.status_code == 403, r.text
    # by id only: fetched from bob's server, found to be bob's, refused
    by_id = alice.activity("Create", bobs["id"])
    r = await alice.post(live.client, f"{group}/inbox", by_id)
    assert r.status_code == 403, r.text
    # even a reply of bob's to our discussion is not alice's to deliver
    bob_reply = bob.note("antwoord van bob", in_reply_to=f"{group}/m/0")
    r = await alice.post(live.client, f"{group}/inbox", alice.activity("Create", bob_reply["id"]))
    assert r.status_code == 403
    # alice's own note that does not address the discussion, posted to its inbox: not in
    own = alice.note("iets heel anders")
    r = await alice.post(live.client, f"{group}/inbox", alice.create(own))
    assert r.status_code == 202
    for note_id in (bobs["id"], bob_reply["id"], own["id"]):
        assert await live.store.note_location(note_id) is None
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 0
    # nothing was announced to anyone: only the Accept of alice's Follow is queued
    assert [orjson.loads(p)["type"] for *_, p in await queued_deliveries(live.store)] == ["Accept"]


async def test_activity_ids_cannot_be_squatted(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, mallory = remote.actor("alice"), remote.actor("mallory", key_index=1)
    note = alice.note("blijft dit staan?", in_reply_to=f"{group}/m/0")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    # mallory (same server) sends a Delete of her own note under the id alice's real
    # Delete will have
    decoy = mallory.note("lokaas", in_reply_to=f"{group}/m/0")
    assert (
        await mallory.post(live.client, f"{group}/inbox", mallory.create(decoy))
    ).status_code == 202
    squat = {**mallory.activity("Delete", decoy["id"]), "id": f"{note['id']}#delete"}
    assert (await mallory.post(live.client, f"{group}/inbox", squat)).status_code == 202
    real = {**alice.activity("Delete", note["id"]), "id": f"{note['id']}#delete"}
    assert (await alice.post(live.client, f"{group}/inbox", real)).status_code == 202
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "blijft dit staan?" not in page  # alice's Delete was not shadowed
    assert "lokaas" not in page  # and mallory's own Delete did what it said
    # the same against a Follow's Undo
    follow = alice.activity("Follow", group)
    assert (await alice.post(live.client, f"{group}/inbox", follow)).status_code == 202
    undo_id = f"{follow['id']}/undo"
    squat_undo = {**mallory.activity("Undo", mallory.activity("Like", note["id"])), "id": undo_id}
    assert (await mallory.post(live.client, f"{group}/inbox", squat_undo)).status_code == 202
    real_undo = {**alice.activity("Undo", follow), "id": undo_id}
    assert (await alice.post(live.client, f"{group}/inbox", real_undo)).status_code == 202
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0
    # an activity (or an undone activity) whose id is on another host is refused
    async with remote_server() as other:
        foreign = {**alice.activity("Like", f"{group}/m/0"), "id": f"{other.base_url}/likes/1"}
        r = await alice.post(live.client, f"{group}/inbox", foreign)
        assert r.status_code == 403
        carol_follow = {**alice.activity("Follow", group), "id": f"{other.base_url}/f/1"}
        r = await alice.post(live.client, f"{group}/inbox", alice.activity("Undo", carol_follow))
        assert r.status_code == 403


async def test_server_health_is_reset_only_by_that_servers_signed_requests(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    async with remote_server() as dead:
        dead_host = dead.base_url.removeprefix("http://")
        run_sql(
            live.settings,
            "INSERT INTO instances (host, failures, failing_since, unavailable_since) "
            "VALUES (?, 40, '2026-11-01T00:00:00Z', '2026-11-04T00:00:00Z')",
            (dead_host,),
        )
        alice = remote.actor("alice")
        # a stranger's activity whose id names the dead host
        spoof = {**alice.activity("Like", f"{group}/m/0"), "id": f"{dead.base_url}/x/1"}
        assert (await alice.post(live.client, f"{group}/inbox", spoof)).status_code == 403
        like = alice.activity("Like", f"{group}/m/0")
        assert (await alice.post(live.client, f"{group}/inbox", like)).status_code == 202

        def health() -> tuple[int, str | None]:
            [row] = run_sql(
                live.settings,
                "SELECT failures, unavailable_since FROM instances WHERE host = ?",
                (dead_host,),
            )
            return int(row[0]), row[1]

        assert health() == (40, "2026-11-04T00:00:00Z")
        # a request signed by one of that server's own actors proves it alive
        zed = dead.actor("zed")
        like2 = zed.activity("Like", f"{group}/m/0")
        assert (await zed.post(live.client, f"{group}/inbox", like2)).status_code == 202
        assert health() == (0, None)


async def test_undo_of_a_like_removes_it_whatever_the_form(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    opening = f"{group}/m/0"
    for form in ("id", "embedded"):
        like = alice.activity("Like", opening)
        assert (await alice.post(live.client, f"{group}/inbox", like)).status_code == 202
        assert await reactions_count(live.store, opening) == {"Like": 1}
        undo = alice.activity("Undo", like["id"] if form == "id" else like)
        assert (await alice.post(live.client, f"{group}/inbox", undo)).status_code == 202
        assert await reactions_count(live.store, opening) == {}, form
    # undoing a Like never ends a follow of the same discussion
    follow = alice.activity("Follow", group)
    assert (await alice.post(live.client, f"{group}/inbox", follow)).status_code == 202
    like = alice.activity("Like", opening)
    assert (await alice.post(live.client, f"{group}/inbox", like)).status_code == 202
    undo = alice.activity("Undo", like)
    assert (await alice.post(live.client, f"{group}/inbox", undo)).status_code == 202
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 1


async def test_edit_to_a_smaller_audience_leaves_public_view(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    assert (
        await bob.post(live.client, f"{group}/inbox", bob.activity("Follow", group))
    ).status_code == 202
    note = alice.note("eerst openbaar", in_reply_to=f"{group}/m/0")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    narrowed = dict(
        note,
        content="<p>geheime tekst voor volgers</p>",
        to=[alice.followers],
        cc=[group],
        updated="2026-11-28T10:05:00Z",
    )
    update = alice.activity("Update", narrowed)
    assert (await alice.post(live.client, f"{group}/inbox", update)).status_code == 202
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "geheime tekst" not in page
    assert "eerst openbaar" not in page
    feed = (await live.client.get("/d/park/feed.rss")).text
    assert "geheime" not in feed
    # bob's server got the group's boost before; now it gets it taken back
    sent = [orjson.loads(p) for *_, p in await queued_deliveries(live.store)]
    undos = [a for a in sent if a["type"] == "Undo"]
    assert len(undos) == 1
    assert undos[0]["actor"] == group
    assert "geheime" not in orjson.dumps(sent).decode()


async def test_a_deleted_discussion_stays_deleted(live: Live) -> None:
    await _discussion(live)
    await live.discussions.set_state("park", DiscussionState.DELETED)
    assert (await live.client.get("/d/park", headers=BROWSER)).status_code == 410
    for state in (DiscussionState.OPEN, DiscussionState.LOCKED, DiscussionState.CLOSED):
        try:
            await live.discussions.set_state("park", state)
        except Conflict:
            pass
        else:
            raise AssertionError(f"deleted → {state} was allowed")
    assert (await live.client.get("/d/park", headers=BROWSER)).status_code == 410
    assert (
        await live.client.get("/.well-known/webfinger", params={"resource": "acct:park@x"})
    ).status_code in (404, 410)


async def test_edits_in_the_same_second_apply_in_order(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("v0", in_reply_to=f"{group}/m/0", published="2026-11-28T10:00:01Z")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202

    async def edit(text: str, updated: str) -> None:
        doc = dict(note, content=f"<p>{text}</p>", updated=updated)
        r = await alice.post(live.client, f"{group}/inbox", alice.activity("Update", doc))
        assert r.status_code == 202

    await edit("v1", "2026-11-28T10:00:01.950Z")  # the first edit, same second as the post
    assert "v1" in (await live.client.get("/d/park", headers=BROWSER)).text
    await edit("v2", "2026-11-28T10:00:01.980Z")  # 30 ms later
    await edit("stale", "2026-11-28T10:00:01.960Z")  # older than v2: ignored
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "v2" in page
    assert "stale" not in page
    [(updated,)] = run_sql(
        live.settings, "SELECT updated FROM notes WHERE ap_id = ?", (note["id"],)
    )
    assert updated == "2026-11-28T10:00:01.980000Z"  # full precision kept


async def test_followers_only_replies_never_enter_even_when_addressed(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("alleen volgers", mention=group, to=[alice.followers], cc=[group])
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    assert await live.store.note_location(note["id"]) is None
    assert PUBLIC not in note["to"]


async def test_captured_requests_do_not_replay(live: Live, remote: RemoteServer) -> None:
    """Over real HTTP: a request signed for another server's inbox, and an old request
    whose Signature header was given a fresh unsigned ``created``, are both 401."""
    from datetime import UTC, datetime, timedelta

    from fedi_forum.activitypub.signatures import sign_request

    group = await _discussion(live)
    alice = remote.actor("alice")
    body = orjson.dumps(alice.create(alice.note("vastgelegd", in_reply_to=f"{group}/m/0")))
    # captured on other.example's inbox at the same path, replayed to ours with that Host
    elsewhere = sign_request(
        method="POST",
        url="https://other.example/d/park/inbox",
        key_id=alice.key_id,
        private_key=alice.key,
        body=body,
    )
    r = await live.client.post(f"{group}/inbox", content=body, headers=elsewhere)
    assert r.status_code == 401
    # captured here three days ago; the attacker adds created=<now> as hs2019 allows
    old = sign_request(
        method="POST",
        url=f"{group}/inbox",
        key_id=alice.key_id,
        private_key=alice.key,
        body=body,
        now=datetime.now(UTC) - timedelta(days=3),
    )
    old["signature"] = old["signature"].replace(
        'algorithm="rsa-sha256"', f'algorithm="hs2019",created={int(datetime.now(UTC).timestamp())}'
    )
    r = await live.client.post(f"{group}/inbox", content=body, headers=old)
    assert r.status_code == 401
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 0


async def test_an_expired_rfc9421_signature_is_refused_over_http(
    live: Live, remote: RemoteServer
) -> None:
    """RFC 9421 `expires` is the sender's own deadline: no hour of grace (item 8)."""
    from datetime import UTC, datetime, timedelta

    from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

    group = await _discussion(live)
    alice = remote.actor("alice")
    url = f"{group}/inbox"

    def signed(body: bytes, expires: datetime) -> dict[str, str]:
        class Message:
            method = "POST"

            def __init__(self) -> None:
                self.url = url
                self.headers = {"content-type": "application/activity+json"}

        message = Message()
        HTTPMessageSigner(
            signature_algorithm=algorithms.RSA_V1_5_SHA256,
            key_resolver=MappingKeyResolver(private_keys={alice.key_id: alice.key}, public_keys={}),
        ).sign(
            message,
            key_id=alice.key_id,
            label="sig1",
            created=expires - timedelta(minutes=1),
            expires=expires,
            body=body,
            covered_component_ids=("@method", "@target-uri", "@authority", "content-digest"),
        )
        return {k.lower(): v for k, v in message.headers.items()}

    now = datetime.now(UTC)
    stale = orjson.dumps(alice.activity("Like", f"{group}/m/0"))
    r = await live.client.post(
        url, content=stale, headers=signed(stale, now - timedelta(minutes=10))
    )
    assert r.status_code == 401
    fresh = orjson.dumps(alice.activity("Like", f"{group}/m/0"))
    r = await live.client.post(
        url, content=fresh, headers=signed(fresh, now + timedelta(minutes=1))
    )
    assert r.status_code == 202
    assert await reactions_count(live.store, f"{group}/m/0") == {"Like": 1}
