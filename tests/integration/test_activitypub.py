"""The Group actor and its collections, as a remote server fetches them."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedi_forum.models import DiscussionState, NoteAction, utcnow
from tests.conftest import Live
from tests.support.http import AS2
from tests.support.seed import add_replies, remote_actor

MASTODON_ACCEPT = "application/activity+json, application/ld+json"


async def test_discussion_url_is_a_group_for_as2_and_a_page_for_browsers(live: Live) -> None:
    await live.discussions.create(
        slug="parkeren", title="Parkeren", body="Waar?", lang="nl", summary="Over parkeren"
    )
    r = await live.client.get("/d/PARKEREN", headers={"Accept": MASTODON_ACCEPT})
    assert r.status_code == 200
    assert r.headers["content-type"] == AS2
    assert r.headers["vary"] == "Accept"
    assert r.headers["access-control-allow-origin"] == "*"  # browser-based clients read it
    doc = r.json()
    assert doc["type"] == "Group"
    assert doc["id"] == f"{live.base_url}/d/parkeren"
    assert doc["name"] == "Parkeren"
    assert doc["summary"] == (
        "<p>Over parkeren</p><p>Volg deze discussie om elke reactie te zien.</p>"
    )
    pem = doc["publicKey"]["publicKeyPem"].encode()
    private = await live.discussions.keyring.load(
        "group-parkeren"
    )  # a file, or sealed on PostgreSQL
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, rsa.RSAPublicKey)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert private.key_size == 2048
    ld = await live.client.get(
        "/d/parkeren",
        headers={"Accept": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'},
    )
    assert ld.json()["id"] == doc["id"]
    html = await live.client.get("/d/parkeren", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "Vary" in html.headers
    assert "Accept" in html.headers["vary"]
    assert (
        await live.client.get("/d/parkeren", headers={"Accept": "image/png"})
    ).status_code == 406


async def test_locked_and_closed_discussions_say_so(live: Live) -> None:
    await live.discussions.create(slug="dicht", title="Dicht", body="b", lang="nl")
    for state in (DiscussionState.LOCKED, DiscussionState.CLOSED):
        await live.discussions.set_state("dicht", state)
        doc = (await live.client.get("/d/dicht", headers={"Accept": AS2})).json()
        assert doc["postingRestrictedToMods"] is True
    await live.discussions.set_state("dicht", DiscussionState.OPEN)
    doc = (await live.client.get("/d/dicht", headers={"Accept": AS2})).json()
    assert doc["postingRestrictedToMods"] is False


async def test_deleted_discussion_is_gone_everywhere(live: Live) -> None:
    await live.discussions.create(slug="weg", title="Weg", body="b", lang="nl")
    await live.discussions.set_state("weg", DiscussionState.DELETED)
    r = await live.client.get("/d/weg", headers={"Accept": AS2})
    assert r.status_code == 410
    assert r.json()["type"] == "Tombstone"
    for path in ("/d/weg/outbox", "/d/weg/context", "/d/weg/m/0", "/d/weg/feed.rss"):
        assert (await live.client.get(path, headers={"Accept": AS2})).status_code == 410, path
    html = await live.client.get("/d/weg", headers={"Accept": "text/html"})
    assert html.status_code == 410
    assert "<h1>" in html.text
    assert "weg" not in (await live.client.get("/")).text.split("<main")[1].split("</main>")[0]


async def test_opening_post_is_dereferenceable_featured_and_in_the_outbox(live: Live) -> None:
    await live.discussions.create(slug="bomen", title="Bomen kappen", body="Mag dat?", lang="nl")
    note = (await live.client.get("/d/bomen/m/0", headers={"Accept": AS2})).json()
    assert note["id"] == f"{live.base_url}/d/bomen/m/0"
    assert note["type"] == "Article"  # docs/rules.md §17
    assert note["name"] == "Bomen kappen"
    assert note["summary"] == "Mag dat?"
    assert note["content"] == "<p>Mag dat?</p>"
    assert note["attributedTo"] == f"{live.base_url}/d/bomen"
    assert note["contentMap"]["nl"] == note["content"]
    featured = (await live.client.get("/d/bomen/featured", headers={"Accept": AS2})).json()
    assert featured["type"] == "OrderedCollection"
    assert featured["totalItems"] == 1
    assert featured["orderedItems"][0]["id"] == note["id"]
    outbox = (await live.client.get("/d/bomen/outbox", headers={"Accept": AS2})).json()
    assert outbox["totalItems"] == 1
    page = (await live.client.get(outbox["first"].removeprefix(live.base_url))).json()
    assert page["type"] == "OrderedCollectionPage"
    assert page["partOf"] == outbox["id"]
    create = page["orderedItems"][0]
    assert create["type"] == "Create"
    assert create["object"]["id"] == note["id"]
    assert create["actor"] == note["attributedTo"]
    # a browser asking for the note goes to its anchor on the page
    r = await live.client.get("/d/bomen/m/0", headers={"Accept": "text/html"})
    assert r.status_code == 302
    assert r.headers["location"].endswith("/d/bomen#m0")


async def test_a_kept_note_document_follows_every_change_of_the_note(live: Live) -> None:
    """Note documents are kept per revision of their discussion (web/activitypub.note):
    an edit or a deletion must show at the next fetch, never the kept copy."""
    await live.discussions.create(slug="hek", title="Het hek", body="Dicht?", lang="nl")
    await live.services.staff.create("beheer", "een lang wachtwoord 123", "admin")
    seq = await live.discussions.staff_reply("hek", username="beheer", text="Nee, open.")

    async def fetch(path: str) -> tuple[int, dict[str, Any]]:
        r = await live.client.get(path, headers={"Accept": AS2})
        return r.status_code, r.json()

    for _ in range(2):  # the second from the kept copy
        assert (await fetch("/d/hek/m/0"))[1]["content"] == "<p>Dicht?</p>"
        status, reply = await fetch(f"/d/hek/m/{seq}")
        assert status == 200
        assert reply["type"] == "Note"
    await live.discussions.edit("hek", body="Open of dicht?")
    assert (await fetch("/d/hek/m/0"))[1]["content"] == "<p>Open of dicht?</p>"
    await live.store.moderate_note(
        slug="hek", seq=seq, action=NoteAction.DELETE, reason="test", now=utcnow()
    )
    status, gone = await fetch(f"/d/hek/m/{seq}")
    assert status == 410
    assert gone["type"] == "Tombstone"


async def test_outbox_pages_walk_every_item_once_in_both_directions(live: Live) -> None:
    d = await live.discussions.create(slug="veel", title="Veel", body="b", lang="nl")
    for i in range(45):
        await live.store.append_outbox(
            d.id,
            activity_id=f"{live.base_url}/d/veel/a/{i}",
            type_="Announce",
            object_id=f"https://m.example/s/{i}",
            payload=f'{{"id": "{live.base_url}/d/veel/a/{i}", "type": "Announce"}}',
            published=utcnow(),
        )
    root = (await live.client.get("/d/veel/outbox")).json()
    assert root["totalItems"] == 46
    seen: list[str] = []
    url: str | None = root["first"]
    pages = []
    while url:
        page = (await live.client.get(url.removeprefix(live.base_url))).json()
        pages.append(page)
        seen += [item["id"] for item in page["orderedItems"]]
        url = page.get("next")
    assert len(seen) == 46 == len(set(seen))
    assert seen[0].endswith("/a/44")  # newest first
    assert "prev" not in pages[0]
    # and back up from the last page
    back: list[str] = []
    url = root["last"]
    while url:
        page = (await live.client.get(url.removeprefix(live.base_url))).json()
        back = [item["id"] for item in page["orderedItems"]] + back
        url = page.get("prev")
    assert back == seen


async def test_followers_count_and_pages(live: Live) -> None:
    d = await live.discussions.create(slug="volg", title="Volg", body="b", lang="nl")
    for i in range(25):
        new = await live.store.add_follower(
            d.id,
            actor_id=f"https://m{i}.example/users/u",
            inbox=f"https://m{i}.example/inbox",
            shared_inbox=None,
            follow_activity_id=None,
            now=utcnow(),
        )
        assert new
    assert not await live.store.add_follower(
        d.id,
        actor_id="https://m0.example/users/u",
        inbox="https://m0.example/inbox",
        shared_inbox=None,
        follow_activity_id="f2",
        now=utcnow(),
    )
    root = (await live.client.get("/d/volg/followers")).json()
    assert root["totalItems"] == 25
    first = (await live.client.get("/d/volg/followers?page=true")).json()
    second = (await live.client.get(first["next"].removeprefix(live.base_url))).json()
    assert len(first["orderedItems"]) + len(second["orderedItems"]) == 25
    assert "next" not in second
    assert (await live.client.get("/d/volg/following")).json()["totalItems"] == 0


async def test_context_lists_every_note_in_order_with_etag(live: Live) -> None:
    d = await live.discussions.create(slug="draad", title="Draad", body="b", lang="nl")
    await add_replies(live.store, d, 5)
    r = await live.client.get("/d/draad/context", headers={"Accept": AS2})
    assert r.status_code == 200
    doc = r.json()
    assert doc["totalItems"] == 6
    assert doc["orderedItems"][0] == f"{live.base_url}/d/draad/m/0"
    assert doc["orderedItems"][1:] == [
        f"https://mastodon.example/users/alice/statuses/{d.id}-{i}" for i in range(5)
    ]
    assert doc["attributedTo"] == f"{live.base_url}/d/draad"
    etag = r.headers["etag"]
    again = await live.client.get("/d/draad/context", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    await add_replies(live.store, d, 1, start=99)
    changed = await live.client.get("/d/draad/context", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["totalItems"] == 7


async def test_long_context_is_paged(live: Live) -> None:
    d = await live.discussions.create(slug="lang", title="Lang", body="b", lang="nl")
    await add_replies(live.store, d, 150)
    root = (await live.client.get("/d/lang/context")).json()
    assert root["totalItems"] == 151
    assert "orderedItems" not in root
    items: list[str] = []
    url = root["first"]
    while url:
        page = (await live.client.get(url.removeprefix(live.base_url))).json()
        items += page["orderedItems"]
        url = page.get("next")
    assert len(items) == 151 == len(set(items))


async def test_note_urls_of_remote_replies_redirect_browsers_to_their_page(live: Live) -> None:
    d = await live.discussions.create(slug="pag", title="Pag", body="b", lang="nl")
    await add_replies(live.store, d, 120)
    r = await live.client.get("/d/pag/m/120", headers={"Accept": "text/html"})
    assert r.status_code == 302
    assert r.headers["location"] == f"{live.base_url}/d/pag?after=100#m120"
    assert (await live.client.get("/d/pag/m/120", headers={"Accept": AS2})).status_code == 404
    assert (await live.client.get("/d/pag/m/999", headers={"Accept": AS2})).status_code == 404
    replies = (await live.client.get("/d/pag/m/0/replies")).json()
    assert replies["type"] == "OrderedCollection"
    assert replies["first"]["orderedItems"] == []


async def test_replies_collection_lists_direct_replies(live: Live) -> None:
    d = await live.discussions.create(slug="rep", title="Rep", body="b", lang="nl")
    await add_replies(live.store, d, 3, in_reply_to=f"{live.base_url}/d/rep/m/0")
    await add_replies(live.store, d, 2, actor=remote_actor("bob", "Bob"), start=10)
    doc = (await live.client.get("/d/rep/m/0/replies")).json()
    assert len(doc["first"]["orderedItems"]) == 3


async def test_bad_cursors_and_params_are_400_not_500(live: Live) -> None:
    await live.discussions.create(slug="cur", title="Cur", body="b", lang="nl")
    for path in (
        "/d/cur/outbox?page=true&max_id=abc",
        "/d/cur/outbox?page=yes",
        "/d/cur/outbox?page=true&min_id=-1",
        "/d/cur/context?page=true&min_id=1e9",
        "/d/cur/followers?page=true&min_id=99999999999999999999",
        "/d/cur?after=x",
        "/d/cur?after=%00",
    ):
        r = await live.client.get(path)
        assert r.status_code == 400, path
    assert (await live.client.get("/d/nope/outbox")).status_code == 404
    assert (await live.client.get("/d/" + "x" * 2000)).status_code == 414
    assert (await live.client.get("/d/cur?" + "a=b&" * 1000)).status_code == 414
    r = await live.client.post("/d/cur/outbox", content=b"{}")
    assert r.status_code == 405
