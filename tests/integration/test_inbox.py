"""The inbox over real HTTP: a fake remote server on 127.0.0.1 serves its actors and keys,
signs with real keys, and our verifier (never mocked) decides."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator

import feedparser
import httpsig
import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from fedi_forum.models import DiscussionState, parse_time
from tests.conftest import Live
from tests.support.db import add_block, deliveries_for, queued_deliveries, reactions_count
from tests.support.http import AS2, BROWSER
from tests.support.remote import PUBLIC, RemoteActor, RemoteServer, pooled_key


async def _discussion(live: Live, slug: str = "park") -> str:
    await live.discussions.create(slug=slug, title="Het park", body="Wat vindt u?", lang="nl")
    return f"{live.base_url}/d/{slug}"


async def test_reply_appears_everywhere_in_order(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    # Given alice follows the discussion
    follow = alice.activity("Follow", group)
    r = await alice.post(live.client, f"{group}/inbox", follow)
    assert r.status_code == 202, r.text
    followers = (await live.client.get("/d/park/followers?page=true")).json()
    assert followers["orderedItems"] == [alice.id]
    _accept_id, accept_inbox, accept_signer, accept = (await queued_deliveries(live.store))[0]
    assert accept_inbox == f"{remote.base_url}/users/alice/inbox"
    assert accept_signer == group
    accept_doc = orjson.loads(accept)
    assert accept_doc["type"] == "Accept"
    assert accept_doc["actor"] == group
    assert accept_doc["object"]["id"] == follow["id"]  # the Follow, embedded as received
    # When alice replies to the opening post and bob replies to alice, via the shared inbox
    first = alice.note("Meer bankjes!", in_reply_to=f"{group}/m/0", mention=group)
    assert (
        await alice.post(live.client, f"{live.base_url}/inbox", alice.create(first))
    ).status_code == 202
    second = bob.note("Eens, en <b>bomen</b>.", in_reply_to=first["id"])
    assert (
        await bob.post(live.client, f"{live.base_url}/inbox", bob.create(second))
    ).status_code == 202
    # Then both are the next ordered notes, everywhere
    context = (await live.client.get("/d/park/context")).json()
    assert context["orderedItems"] == [f"{group}/m/0", first["id"], second["id"]]
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert page.index("Meer bankjes!") < page.index("bomen")
    assert "reactie op #1" in page
    assert f"@bob@{remote.base_url.removeprefix('http://')}" in page
    outbox = (await live.client.get("/d/park/outbox?page=true")).json()
    announces = [i for i in outbox["orderedItems"] if i["type"] == "Announce"]
    assert [a["object"] for a in announces] == [second["id"], first["id"]]  # newest first
    assert announces[0]["actor"] == group
    assert PUBLIC in announces[0]["cc"]
    feed = feedparser.parse((await live.client.get("/d/park/feed.atom")).content)
    assert [e.id for e in feed.entries[:2]] == [second["id"], first["id"]]
    # and the Announce is queued once per shared inbox (alice's server), not per follower
    queued = await deliveries_for(live.store, announces[0]["id"])
    assert [inbox for inbox, _, _ in queued] == [f"{remote.base_url}/inbox"]


async def test_gotosocial_hs2019_with_main_key_stub(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    gts = remote.actor("gts", style="gotosocial", key_index=2)
    note = gts.note("Hallo vanaf GoToSocial", in_reply_to=f"{group}/m/0")
    r = await gts.post(live.client, f"{group}/inbox", gts.create(note))
    assert r.status_code == 202, r.text
    assert f"{remote.base_url}/users/gts/main-key" in remote.fetches  # the stub, then the actor
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 1


async def test_same_activity_twice_is_stored_once(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    create = alice.create(alice.note("Eén keer", in_reply_to=f"{group}/m/0"))
    for _ in range(3):
        assert (await alice.post(live.client, f"{group}/inbox", create)).status_code == 202
    # a different activity id carrying the same note is not a second note either
    again = dict(create, id=create["id"] + "-again")
    assert (await alice.post(live.client, f"{group}/inbox", again)).status_code == 202
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 1
    assert d.last_seq == 1


async def test_one_fetch_for_concurrent_requests_from_an_unknown_key(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    notes = [alice.note(f"tegelijk {i}", in_reply_to=f"{group}/m/0") for i in range(12)]
    results = await asyncio.gather(
        *(alice.post(live.client, f"{group}/inbox", alice.create(n)) for n in notes)
    )
    assert [r.status_code for r in results] == [202] * 12
    assert remote.fetches.count(alice.id) == 1
    d = await live.store.discussion("park")
    assert d is not None
    assert d.last_seq == 12


async def test_rotated_key_is_refetched_once(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice", key_index=0)
    create = alice.create(alice.note("oude sleutel", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", create)).status_code == 202
    alice.key = pooled_key(3)  # rotation on the remote side
    create = alice.create(alice.note("nieuwe sleutel", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", create)).status_code == 202
    assert remote.fetches.count(alice.id) == 2
    # a signature by a key the actor never had still fails after the one refetch
    alice.key = pooled_key(4)
    alice_doc_key = pooled_key(3)
    create = alice.create(alice.note("vervalst", in_reply_to=f"{group}/m/0"))
    body = orjson.dumps(create)
    headers = alice.signed_headers(f"{group}/inbox", body)
    alice.key = alice_doc_key  # the remote still publishes key 3
    r = await live.client.post(f"{group}/inbox", content=body, headers=headers)
    assert r.status_code == 401


async def test_a_forged_signature_does_not_cost_a_known_actor_its_key(
    live: Live, remote: RemoteServer
) -> None:
    """A forged signature naming a known keyId makes us fetch the key again (it may
    have rotated). While the owner's server does not answer (503), the key we hold
    stays: the actor's own next reply is accepted. Only a 410 (the actor deleted on
    its server) drops it (federation/keys.py)."""
    group = await _discussion(live)
    alice = remote.actor("alice", key_index=0)
    mallory = remote.actor("mallory", key_index=1)
    first = alice.create(alice.note("eerste", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", first)).status_code == 202

    async def forged(text: str) -> int:
        body = orjson.dumps(alice.create(alice.note(text, in_reply_to=f"{group}/m/0")))
        headers = alice.signed_headers(f"{group}/inbox", body)
        signature = mallory.signed_headers(f"{group}/inbox", body)["signature"]
        headers["signature"] = signature.replace(mallory.key_id, alice.key_id)
        return (await live.client.post(f"{group}/inbox", content=body, headers=headers)).status_code

    remote.actor_status = 503  # alice's server is down for fetches
    fetches = len(remote.fetches)
    assert await forged("vervalst") == 401
    assert len(remote.fetches) == fetches + 1  # it tried: the key may have rotated
    again = alice.create(alice.note("nog steeds ik", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", again)).status_code == 202
    live.services.keys._cache.clear()  # evicted: the stored key, not a remembered failure
    evicted = alice.create(alice.note("uit de database", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", evicted)).status_code == 202
    # the actor deleted on its server: the key held goes (after the refresh interval)
    live.services.keys._refreshed.clear()
    remote.actor_status = None
    remote.gone.add("alice")  # its server answers 410 for it
    assert await forged("weer vervalst") == 401
    late = alice.create(alice.note("na verwijdering", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", late)).status_code == 401
    live.services.keys._failed.clear()  # the failure forgotten: the stored key is gone too
    later = alice.create(alice.note("later", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", later)).status_code == 401
    remote.gone.discard("alice")  # back on its server: fetched, active again
    live.services.keys._failed.clear()
    back = alice.create(alice.note("terug", in_reply_to=f"{group}/m/0"))
    assert (await alice.post(live.client, f"{group}/inbox", back)).status_code == 202


async def test_forged_and_stale_signatures_are_refused(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    create = alice.create(alice.note("echt", in_reply_to=f"{group}/m/0"))
    body = orjson.dumps(create)
    url = f"{group}/inbox"
    headers = alice.signed_headers(url, body)
    cases = {
        "unsigned": ({"content-type": AS2}, body),
        "body changed": (headers, body.replace(b"echt", b"nep!")),
        "header swapped": (dict(headers, date="Sat, 28 Nov 2026 10:00:01 GMT"), body),
        "stale date": (_resigned(alice, url, body, "Sat, 28 Nov 2026 00:00:00 GMT"), body),
    }
    for name, (h, b) in cases.items():
        r = await live.client.post(url, content=b, headers=h)
        assert r.status_code == 401, name
    # signed by a key that is not alice's
    mallory = remote.actor("mallory", key_index=1)
    forged = alice.signed_headers(url, body)
    forged_sig = mallory.signed_headers(url, body)["signature"].replace(
        mallory.key_id, alice.key_id
    )
    r = await live.client.post(url, content=body, headers=dict(forged, signature=forged_sig))
    assert r.status_code == 401
    # the httpsig algorithm-confusion forgery (HMAC keyed with alice's public key)
    public_pem = alice.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    signer = httpsig.HeaderSigner(
        alice.key_id,
        public_pem,
        algorithm="hmac-sha256",
        headers=["(request-target)", "host", "date", "digest"],
        sign_header="signature",
    )
    attack = signer.sign(
        {"host": live.domain, "digest": digest, "content-type": AS2, "date": headers["date"]},
        host=live.domain,
        method="POST",
        path="/d/park/inbox",
    )
    r = await live.client.post(url, content=body, headers=attack)
    assert r.status_code == 401
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 0


def _resigned(actor: RemoteActor, url: str, body: bytes, date: str) -> dict[str, str]:
    """A valid signature, but made at ``date`` (a replay outside the window)."""
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    from fedi_forum.activitypub.signatures import sign_request

    when: datetime = parsedate_to_datetime(date)
    return sign_request(
        method="POST", url=url, key_id=actor.key_id, private_key=actor.key, body=body, now=when
    )


async def test_actor_must_be_the_signer_and_objects_come_from_their_origin(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    # alice signs an activity claiming to be bob's
    create = bob.create(bob.note("ik ben bob", in_reply_to=f"{group}/m/0"))
    body = orjson.dumps(create)
    r = await live.client.post(
        f"{group}/inbox", content=body, headers=alice.signed_headers(f"{group}/inbox", body)
    )
    assert r.status_code == 403
    # alice forwards bob's note inside her own Create: a Create speaks only for its own
    # actor, so bob's words never enter through alice (security issue #11, item 1)
    bobs = bob.note("origineel van bob", in_reply_to=f"{group}/m/0")
    tampered = dict(bobs, content="<p>vervalst door alice</p>")
    forwarded = alice.activity("Create", tampered)
    assert (await alice.post(live.client, f"{group}/inbox", forwarded)).status_code == 403
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "origineel van bob" not in page
    assert "vervalst" not in page
    # alice's own note claimed on her host but not served there: refused by id
    ghost_id = f"{remote.base_url}/users/alice/statuses/999"
    r = await alice.post(live.client, f"{group}/inbox", alice.activity("Create", ghost_id))
    assert r.status_code == 400


async def test_only_public_and_unlisted_replies_become_content(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    public = alice.note("openbaar", in_reply_to=f"{group}/m/0")
    unlisted = alice.note(
        "niet vermeld", in_reply_to=f"{group}/m/0", to=[alice.followers], cc=[PUBLIC, group]
    )
    followers_only = alice.note(
        "alleen volgers", in_reply_to=f"{group}/m/0", to=[alice.followers], cc=[group]
    )
    direct = alice.note("direct", in_reply_to=f"{group}/m/0", to=[group], cc=[])
    for note in (public, unlisted, followers_only, direct):
        assert (
            await alice.post(live.client, f"{group}/inbox", alice.create(note))
        ).status_code == 202
    context = (await live.client.get("/d/park/context")).json()["orderedItems"]
    assert context[1:] == [public["id"], unlisted["id"]]
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "alleen volgers" not in page
    assert ">direct<" not in page
    assert await live.store.note_location(followers_only["id"]) is None


async def test_routing_by_address_parent_chain_and_unknown(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    # a fresh post that mentions the group, sent to the shared inbox
    mention = alice.note("@park kijk hier", mention=group)
    assert (
        await alice.post(live.client, f"{live.base_url}/inbox", alice.create(mention))
    ).status_code == 202
    # bob replies to a note of alice's we never received (she did not mention us), which
    # replies to our opening post: the parent is fetched and both are stored in order
    missing = alice.note("tussenstap", in_reply_to=f"{group}/m/0")
    reply = bob.note("antwoord", in_reply_to=missing["id"], mention=group)
    assert (
        await bob.post(live.client, f"{live.base_url}/inbox", bob.create(reply))
    ).status_code == 202
    context = (await live.client.get("/d/park/context")).json()["orderedItems"]
    assert context[1:] == [mention["id"], missing["id"], reply["id"]]
    # a post about something else entirely is acknowledged and ignored
    other = alice.note("over iets anders")
    assert (
        await alice.post(live.client, f"{live.base_url}/inbox", alice.create(other))
    ).status_code == 202
    assert await live.store.note_location(other["id"]) is None
    # an inbox of a discussion that does not exist
    r = await alice.post(
        live.client, f"{live.base_url}/d/bestaatniet/inbox", alice.create(alice.note("x"))
    )
    assert r.status_code == 404


async def test_closed_and_locked_discussions(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    await live.discussions.set_state("park", DiscussionState.LOCKED)
    create = alice.create(alice.note("te laat", in_reply_to=f"{group}/m/0"))
    r = await alice.post(live.client, f"{group}/inbox", create)
    assert r.status_code == 403
    assert "does not accept replies" in r.text
    await live.discussions.set_state("park", DiscussionState.CLOSED)
    follow = alice.activity("Follow", group)
    assert (await alice.post(live.client, f"{group}/inbox", follow)).status_code == 202
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0
    ((_, _, _, payload),) = await queued_deliveries(live.store)
    assert orjson.loads(payload)["type"] == "Reject"


async def test_edits_deletes_and_tombstones(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    note = alice.note("eerste versie", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    # an edit with a newer `updated` wins; an older or missing one does not
    edited = dict(note, content="<p>tweede versie</p>", updated="2026-11-28T11:00:00Z")
    assert (
        await alice.post(live.client, f"{group}/inbox", alice.activity("Update", edited))
    ).status_code == 202
    stale = dict(note, content="<p>oude versie</p>", updated="2026-11-28T09:00:00Z")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Update", stale))
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "tweede versie" in page
    assert "oude versie" not in page
    assert "bewerkt" in page
    # nobody but the author edits or deletes it
    hijack = dict(note, content="<p>bob was hier</p>", updated="2026-11-28T12:00:00Z")
    assert (
        await bob.post(live.client, f"{group}/inbox", bob.activity("Update", hijack))
    ).status_code == 403
    assert (
        await bob.post(
            live.client,
            f"{group}/inbox",
            bob.activity("Delete", {"id": note["id"], "type": "Tombstone"}),
        )
    ).status_code == 403
    # the author deletes it: a tombstone keeps its place
    later = alice.note("daarna", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(later))
    delete = alice.activity("Delete", {"id": note["id"], "type": "Tombstone"})
    assert (await alice.post(live.client, f"{group}/inbox", delete)).status_code == 202
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "tweede versie" not in page
    assert "door de schrijver verwijderd" in page
    assert page.index('id="m1"') < page.index('id="m2"')
    # and the same id can never come back
    again = dict(alice.create(note), id=note["id"] + "/activity-again")
    await alice.post(live.client, f"{group}/inbox", again)
    assert "tweede versie" not in (await live.client.get("/d/park", headers=BROWSER)).text
    # a Delete that arrives before its Create is remembered
    early = alice.note("nooit gezien", in_reply_to=f"{group}/m/0")
    await alice.post(
        live.client,
        f"{group}/inbox",
        alice.activity("Delete", {"id": early["id"], "type": "Tombstone"}),
    )
    await alice.post(live.client, f"{group}/inbox", alice.create(early))
    assert await live.store.note_location(early["id"]) is None


async def test_unknown_actor_deleting_itself_is_dropped_without_fetching(
    live: Live, remote: RemoteServer
) -> None:
    await _discussion(live)
    ghost = remote.actor("ghost")
    delete = ghost.activity("Delete", ghost.id, to=[PUBLIC])
    body = orjson.dumps(delete)
    r = await live.client.post(
        f"{live.base_url}/inbox", content=body, headers={"content-type": AS2}
    )  # not even signed
    assert r.status_code == 202
    assert remote.fetches == []


async def test_known_actor_deleting_itself(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    await alice.post(
        live.client,
        f"{group}/inbox",
        alice.create(alice.note("tot ziens", in_reply_to=f"{group}/m/0")),
    )
    r = await alice.post(live.client, f"{live.base_url}/inbox", alice.activity("Delete", alice.id))
    assert r.status_code == 202
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0
    assert "tot ziens" not in (await live.client.get("/d/park", headers=BROWSER)).text


async def test_reactions_reports_blocks_and_profile_updates(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    opening = f"{group}/m/0"
    like = alice.activity("Like", opening)
    boost = alice.activity("Announce", opening)
    react = alice.activity("EmojiReact", opening, content="👍")
    for activity in (like, boost, react):
        assert (await alice.post(live.client, f"{group}/inbox", activity)).status_code == 202
    assert await reactions_count(live.store, opening) == {"Like": 1, "Announce": 1, "EmojiReact": 1}
    await alice.post(live.client, f"{group}/inbox", alice.activity("Undo", like))
    assert (await reactions_count(live.store, opening)).get("Like") is None
    # Mastodon reports come from the instance actor with [account, statuses]
    instance = remote.actor("instance", type_="Application", key_index=1)
    flag = instance.activity("Flag", [alice.id, opening], content="spam")
    assert (await instance.post(live.client, f"{live.base_url}/inbox", flag)).status_code == 202
    (report,) = await live.store.reports()
    assert report["comment"] == "spam"
    assert opening in report["note_ids"]
    # Update of the actor refreshes the cached profile
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    doc = alice.document() | {"name": "Alice van Dijk"}
    await alice.post(live.client, f"{group}/inbox", alice.activity("Update", doc))
    cached = await live.store.actor(alice.id)
    assert cached is not None
    assert cached.name == "Alice van Dijk"
    # Block removes the follower
    await alice.post(live.client, f"{group}/inbox", alice.activity("Block", group))
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0


async def test_an_articles_summary_is_its_lead_not_a_content_warning(
    live: Live, remote: RemoteServer
) -> None:
    """NodeBB (and we) publish opening posts as Articles whose ``summary`` is a lead;
    Mastodon shows it as text, not as a warning (docs/rules.md §17). A Note's summary
    stays a content warning."""
    group = await _discussion(live)
    alice = remote.actor("alice")
    article = alice.note("<p>De hele tekst.</p>", in_reply_to=f"{group}/m/0")
    article.update(type="Article", name="Een vervolg", summary="De hele tekst.")
    await alice.post(live.client, f"{group}/inbox", alice.create(article))
    note = alice.note("<p>Verborgen.</p>", in_reply_to=f"{group}/m/0", summary="Let op")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    main = page.split("<main", 1)[1]
    assert "<strong>Een vervolg</strong>" in main
    assert "<summary>De hele tekst.</summary>" not in main
    assert "<summary>Let op</summary>" in main


@pytest.mark.parametrize(
    ("published", "shown"),
    [
        # a year before 1000 was stored as "999-…", which no later read could parse:
        # the discussion's page and feed answered 500 to everyone
        ("0999-12-31T10:00:00Z", "0999-12-31T10:00:00Z"),
        # shown in the forum's time zone (UTC+1), the last hour of 9999 is year 10000:
        # the page answered 500; times that near the ends are taken as no time
        ("9999-12-31T23:30:00Z", None),
        ("0001-01-01T00:10:00Z", None),
        # a time whose UTC form is before year 1 or after 9999 broke the inbox (500)
        ("0001-01-01T00:00:00+14:00", None),
        ("9999-12-31T23:59:59-14:00", None),
    ],
)
async def test_a_remote_time_at_the_edges_of_the_calendar_breaks_no_page(
    live: Live, remote: RemoteServer, published: str, shown: str | None
) -> None:
    """``published`` is attacker-controlled: whatever it says, the reply is stored with
    a time every later read can parse (the note's own, or the time we received it)."""
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("Oude post", in_reply_to=f"{group}/m/0", published=published)
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    page = await live.client.get("/d/park", headers=BROWSER)
    assert page.status_code == 200
    assert "Oude post" in page.text
    feed = await live.client.get("/d/park/feed.rss")
    assert feed.status_code == 200
    assert len(feedparser.parse(feed.text).entries) == 2
    d = await live.store.discussion("park")
    assert d is not None
    stored = await live.store.note(d.id, 1)
    assert stored is not None
    if shown:
        assert stored.published == shown
    else:  # no usable time of its own: the time it arrived
        assert parse_time(stored.published).year >= 2026


async def test_hostile_content_is_sanitized_and_attachments_listed(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note(
        "x",
        in_reply_to=f"{group}/m/0",
        summary="spoiler <b>!</b>",
        sensitive=True,
        attachment=[
            {
                "type": "Document",
                "mediaType": "image/png",
                "url": "https://media.example/a.png",
                "name": "Een kaart van het park",
            },
            {
                "type": "Document",
                "mediaType": "application/pdf",
                "url": "https://media.example/rapport.pdf",
                "name": "Rapport",
            },
        ],
    )
    note["content"] = (
        '<p onmouseover="steal()">hallo<script>alert(1)</script>'
        '<a href="javascript:alert(2)">link</a><style>*{}</style></p>'
    )
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    main = page.split("<main", 1)[1]
    assert "<script" not in main
    assert "onmouseover" not in main
    assert "javascript:" not in main
    assert "<summary>spoiler !</summary>" in main
    assert '<a href="https://media.example/a.png"' in main
    # the image itself, through our media proxy (no reader's address goes to
    # media.example), with its alt text; a document stays a link
    assert re.search(
        rf'<img src="{live.base_url}/media/[0-9a-f]{{32}}\?url=https%3A%2F%2Fmedia\.example'
        r'%2Fa\.png" alt="Een kaart van het park" loading="lazy">',
        main,
    )
    assert 'src="https://media.example' not in main
    document = '<a href="https://media.example/rapport.pdf" rel="nofollow noopener noreferrer ugc">'
    assert f"{document}Rapport</a>" in main


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(b"{not json", AS2, 400, id="malformed"),
        pytest.param(b"[1, 2]", AS2, 400, id="array"),
        pytest.param(b'{"type": "Create"}', AS2, 400, id="no-id"),
        pytest.param(b'{"id": "https://x/1", "type": "Create"}', AS2, 400, id="no-actor"),
        pytest.param(b'{"id": "https://x/1", "actor": "https://x/a"}', AS2, 400, id="no-type"),
        pytest.param(
            b'{"id": 5, "type": "Create", "actor": "https://x/a"}', AS2, 400, id="id-number"
        ),
        pytest.param(
            b'{"id": "https://x/1", "type": [], "actor": ["x"]}', AS2, 400, id="empty-types"
        ),
        pytest.param(
            b'{"id": "https://x/1", "type": "Note", "actor": "https://x/a", "object": 5}',
            AS2,
            400,
            id="object-number",
        ),
        pytest.param(b"[" * 5000 + b"]" * 5000, AS2, 400, id="deeply-nested"),
        pytest.param(b'{"a": NaN}', AS2, 400, id="nan"),
        pytest.param(b"{}", "application/json", 415, id="plain-json"),
        pytest.param(b"{}", "text/html", 415, id="html"),
        pytest.param(b"{}", "application/ld+json", 415, id="ld-without-profile"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    live: Live, body: bytes, content_type: str, status: int
) -> None:
    r = await live.client.post("/inbox", content=body, headers={"content-type": content_type})
    assert r.status_code == status
    assert "error" in r.json()


async def test_huge_bodies_are_413_declared_or_streamed(live: Live) -> None:
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    r = await live.client.post("/inbox", content=big, headers={"content-type": AS2})
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"a" * 65536

    r = await live.client.post("/inbox", content=chunks(), headers={"content-type": AS2})
    assert r.status_code == 413
    assert (await live.client.get("/inbox")).status_code == 405


async def test_blocked_domains_are_refused_before_any_fetch(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    await add_block(live.store, "domain", "127.0.0.1", "test", "2026-11-28T00:00:00Z")
    await live.services.blocklist.reload()
    r = await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    assert r.status_code == 403
    assert remote.fetches == []


async def test_inbox_rate_limits_per_client(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from fedi_forum.app import create_app
    from fedi_forum.config import Settings
    from tests.support.live import live_server

    def make(base_url: str):  # type: ignore[no-untyped-def]
        return create_app(
            Settings(
                base_url=base_url,
                data_dir=tmp_path / "d",
                keys_dir=tmp_path / "k",
                allow_loopback=True,
                inbox_rate=1,
            )
        )

    async with live_server(make) as (base_url, _), httpx.AsyncClient(base_url=base_url) as c:
        statuses = [
            (await c.post("/inbox", content=b"{}", headers={"content-type": AS2})).status_code
            for _ in range(12)
        ]
        assert statuses[:10] == [400] * 10  # within the burst: judged on their merits
        assert statuses[-1] == 429
        limited = await c.post("/inbox", content=b"{}", headers={"content-type": AS2})
        assert int(limited.headers["retry-after"]) >= 1


async def test_sender_hanging_up_mid_body_is_not_a_server_error(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the benchmark: a sender that disconnects before its body is complete
    was logged as an unhandled 500 (and a server logging to an unread pipe hung)."""
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    port = int(live.base_url.rsplit(":", 1)[1])

    def inbox_requests() -> float:  # every request the app answered (metrics), any status
        return sum(
            sample.value
            for family in live.services.metrics.registry.collect()
            if family.name == "fedi_forum_http_requests"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("family") == "inbox"
        )

    before = inbox_requests()
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"POST /d/park/inbox HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n"
        writer.write(head + b'content-type: application/activity+json\r\n\r\n{"id":')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(10):  # the app saw all three (not: nothing happened yet)
        while inbox_requests() < before + 3:
            await asyncio.sleep(0.02)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert (await live.client.get("/d/park", headers={"Accept": AS2})).status_code == 200
