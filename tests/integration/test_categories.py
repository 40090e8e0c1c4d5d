"""Categories (docs/categories.md) over real HTTP, on both engines: a category is a
Group actor that is found, followed and boosts each new discussion filed under it; the
forum-wide actor boosts every one; pages, feeds and search know them."""

from __future__ import annotations

import asyncio

import feedparser
import pytest

from fedi_forum.errors import Conflict, NotFound
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.moderation import Moderation
from fedi_forum.models import CategoryPosting, DiscussionState
from tests.conftest import Live
from tests.support.delivery import drain, fast_retries  # noqa: F401 (fast_retries: autouse)
from tests.support.http import AS2, BROWSER, PASSWORD, csrf_token, login
from tests.support.remote import RemoteServer


def _categories(live: Live) -> Categories:
    return Categories(live.settings, live.store, live.discussions.keyring)


async def test_a_category_is_a_group_that_is_found_followed_and_boosts_new_discussions(
    live: Live, remote: RemoteServer
) -> None:
    cats = _categories(live)
    await cats.create(slug="verkeer", name="Verkeer", description="Wegen, fietsen, parkeren")
    forum = await cats.ensure_forum()
    assert forum is not None
    assert forum.is_forum
    assert await cats.ensure_forum() == forum  # once
    # found by WebFinger and by URL
    wf = await live.client.get(
        "/.well-known/webfinger", params={"resource": f"acct:verkeer@{live.domain}"}
    )
    assert wf.status_code == 200
    category = f"{live.base_url}/c/verkeer"
    assert wf.json()["links"][0]["href"] == category
    actor = (await live.client.get("/c/verkeer", headers={"Accept": AS2})).json()
    assert actor["type"] == "Group"
    assert actor["preferredUsername"] == "verkeer"
    assert actor["inbox"] == f"{category}/inbox"
    assert actor["publicKey"]["owner"] == category
    # followed: Accept signed by the category
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    follow = alice.activity("Follow", category)
    r = await alice.post(live.client, f"{category}/inbox", follow)
    assert r.status_code == 202, r.text
    forum_id = f"{live.base_url}/c/forum"
    r = await bob.post(live.client, f"{live.base_url}/inbox", bob.activity("Follow", forum_id))
    assert r.status_code == 202, r.text
    await drain(live)
    accepts = [(s, d) for s, _, d in remote.delivered if d["type"] == "Accept"]
    assert sorted(s for s, _ in accepts) == sorted([category, forum_id])
    followers = (await live.client.get("/c/verkeer/followers", headers={"Accept": AS2})).json()
    assert followers["totalItems"] == 1
    # a discussion filed under it: its opening post boosted by the category and by the
    # forum-wide actor, each to its own followers
    remote.delivered.clear()
    await live.discussions.create(
        slug="drempels", title="Drempels", body="Waar?", lang="nl", category="verkeer"
    )
    await live.discussions.create(slug="elders", title="Elders", body="Iets", lang="nl")
    await drain(live)
    boosts = sorted(
        (d["actor"], d["object"]) for _, _, d in remote.delivered if d["type"] == "Announce"
    )
    assert boosts == [
        (forum_id, f"{live.base_url}/d/drempels/m/0"),
        (forum_id, f"{live.base_url}/d/elders/m/0"),
        (category, f"{live.base_url}/d/drempels/m/0"),
    ]
    assert remote.rejected == []  # every one verified against the category's key
    # the category's outbox shows its boosts
    outbox = (await live.client.get("/c/verkeer/outbox", headers={"Accept": AS2})).json()
    assert [a["object"] for a in outbox["orderedItems"]] == [f"{live.base_url}/d/drempels/m/0"]
    # Undo{Follow}: no more boosts
    undo = alice.activity("Undo", follow)
    assert (await alice.post(live.client, f"{category}/inbox", undo)).status_code == 202
    remote.delivered.clear()
    await live.discussions.create(
        slug="bussen", title="Bussen", body="Vaker?", lang="nl", category="verkeer"
    )
    await drain(live)
    assert [d["actor"] for _, _, d in remote.delivered if d["type"] == "Announce"] == [forum_id]


async def test_follows_that_name_no_category_or_deliver_here_are_refused(
    live: Live, remote: RemoteServer
) -> None:
    await _categories(live).create(slug="verkeer", name="Verkeer")
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    category = f"{live.base_url}/c/verkeer"
    alice = remote.actor("alice")
    for target in (f"{category}/followers", f"{category}/outbox", f"{live.base_url}/c/nee"):
        r = await alice.post(live.client, f"{category}/inbox", alice.activity("Follow", target))
        assert r.status_code == 202
    assert await live.store.category_followers_count(1) == 0
    # a follower whose inbox is on this server would make us deliver to ourselves
    mallory = remote.actor("mallory", key_index=1)
    doc = mallory.document()
    doc["endpoints"] = {"sharedInbox": f"{live.base_url}/inbox"}
    mallory.document = lambda: doc  # type: ignore[method-assign]
    for target in (category, f"{live.base_url}/d/park"):
        r = await mallory.post(
            live.client, f"{live.base_url}/inbox", mallory.activity("Follow", target)
        )
        assert r.status_code == 403, target
    assert await live.store.category_followers_count(1) == 0
    assert await live.store.followers_count(1) == 0


async def test_pages_feeds_and_search_know_categories(live: Live) -> None:
    cats = _categories(live)
    await cats.create(slug="groen", name="Groen en bomen")
    await cats.ensure_forum()
    for i in range(35):
        await live.discussions.create(
            slug=f"boom{i}", title=f"Boom {i}", body="Een eik.", lang="nl", category="groen"
        )
    await live.discussions.create(slug="los", title="Los", body="Een eik ook.", lang="nl")
    index = (await live.client.get("/", headers=BROWSER)).text
    assert 'href="/c/groen"' not in index  # absolute URLs
    assert f'href="{live.base_url}/c/groen"' in index
    assert "35 discussies" in index
    # each category with its three newest discussions
    nav = index.split('class="categories"', 1)[1].split("</nav>", 1)[0]
    assert [t for t in ("Boom 34", "Boom 33", "Boom 32", "Boom 31", "Los") if f">{t}<" in nav] == [
        "Boom 34",
        "Boom 33",
        "Boom 32",
    ]
    # the category's page: newest first, 30 a page, keyset paged
    page = (await live.client.get("/c/groen", headers=BROWSER)).text
    assert page.index("Boom 34") < page.index("Boom 5")
    assert "Boom 4<" not in page
    older = page.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert older.startswith("?before=")
    rest = (await live.client.get(f"/c/groen{older.replace('&amp;', '&')}", headers=BROWSER)).text
    assert "Boom 0<" in rest
    assert "Boom 34" not in rest
    assert f"@groen@{live.domain}" in page
    # how to start one from the fediverse, by its posting rule
    assert "Een moderator opent het als discussie" in page
    await cats.edit("groen", posting=CategoryPosting.CLOSED)
    closed = (await live.client.get("/c/groen", headers=BROWSER)).text
    assert "Een discussie beginnen" not in closed
    # the discussion page links its category
    assert (
        f'href="{live.base_url}/c/groen"'
        in (await live.client.get("/d/boom1", headers=BROWSER)).text
    )
    # feeds
    feed = feedparser.parse((await live.client.get("/c/groen/feed.atom")).content)
    assert feed.bozo == 0
    assert len(feed.entries) == 35
    assert feed.entries[0].title == "Boom 34"
    # search within a category
    r = await live.client.get("/search", params={"q": "eik", "category": "groen"}, headers=BROWSER)
    assert "Boom" in r.text
    assert ">Los</a>" not in r.text
    r = await live.client.get("/search", params={"q": "eik"}, headers=BROWSER)
    assert ">Los</a>" in r.text
    r = await live.client.get("/search", params={"q": "eik", "category": "nee"}, headers=BROWSER)
    assert r.status_code == 400
    # unknown categories are 404 everywhere
    for path in (
        "/c/nee",
        "/c/nee/outbox",
        "/c/nee/followers",
        "/c/nee/featured",
        "/c/nee/feed.rss",
    ):
        assert (await live.client.get(path, headers=BROWSER)).status_code == 404, path


async def test_the_forum_wide_actor_is_made_once(live: Live) -> None:
    cats = _categories(live)
    # two processes starting at once: one makes it, both get it
    first, second = await asyncio.gather(cats.ensure_forum(), cats.ensure_forum())
    assert first is not None
    assert first == second
    categories = await live.store.categories()
    assert [c.slug for c, _ in categories] == ["forum"]


async def test_no_forum_wide_actor_when_its_name_is_a_discussion(live: Live) -> None:
    await live.discussions.create(slug="forum", title="Forum", body="b", lang="nl")
    assert await _categories(live).ensure_forum() is None
    assert await live.store.categories() == []


async def test_filing_and_the_shared_namespace(live: Live) -> None:
    cats = _categories(live)
    await cats.create(slug="wonen", name="Wonen")
    await live.discussions.create(slug="huur", title="Huur", body="Te hoog", lang="nl")
    with pytest.raises(Conflict):  # one @name per actor
        await cats.create(slug="huur", name="Huur")
    with pytest.raises(Conflict):
        await live.discussions.create(slug="wonen", title="Wonen", body="x", lang="nl")
    with pytest.raises(NotFound):
        await live.discussions.create(slug="x1", title="X", body="x", lang="nl", category="nee")
    d = await cats.file("huur", "wonen")
    assert d.category_id is not None
    assert "Categorie: Wonen" in (await live.client.get("/d/huur", headers=BROWSER)).text
    d = await cats.file("huur", None)
    assert d.category_id is None
    forum = await cats.ensure_forum()
    assert forum is not None
    with pytest.raises(Exception, match="forum"):
        await cats.file("huur", "forum")
    await live.discussions.set_state("huur", DiscussionState.DELETED)
    with pytest.raises(NotFound):
        await cats.file("huur", "wonen")
    edited = await cats.edit("wonen", name="Wonen en huren")
    assert edited.name == "Wonen en huren"
    actor = (await live.client.get("/c/wonen", headers={"Accept": AS2})).json()
    assert actor["name"] == "Wonen en huren"


async def test_an_administrator_creates_categories_and_files_discussions(live: Live) -> None:
    await live.services.staff.create("beheer", PASSWORD, "admin")
    await live.services.staff.create("mod", PASSWORD, "moderator")
    await login(live.client, "mod")
    assert (await live.client.get("/admin/categories", headers=BROWSER)).status_code == 403
    await live.client.post(
        "/admin/logout",
        data={"csrf": csrf_token((await live.client.get("/admin", headers=BROWSER)).text)},
    )
    await login(live.client, "beheer")
    page = await live.client.get("/admin/categories", headers=BROWSER)
    token = csrf_token(page.text)
    r = await live.client.post(
        "/admin/categories",
        headers=BROWSER,
        data={"csrf": token, "slug": "zorg", "name": "Zorg", "description": "Wmo en jeugd"},
    )
    assert r.status_code == 303
    assert (await live.store.category("zorg")) is not None
    # a name taken: said on the form, nothing made
    r = await live.client.post(
        "/admin/categories", headers=BROWSER, data={"csrf": token, "slug": "zorg", "name": "Z"}
    )
    assert r.status_code == 409
    assert "already taken" in r.text
    r = await live.client.post(  # no CSRF token: refused
        "/admin/categories", headers=BROWSER, data={"slug": "x", "name": "X"}
    )
    assert r.status_code == 403
    # a new discussion filed under it from the form, then moved out on its edit page
    r = await live.client.post(
        "/admin/discussions/new",
        headers=BROWSER,
        data={
            "csrf": token,
            "slug": "mantelzorg",
            "title": "Mantelzorg",
            "lang": "nl",
            "body": "Hoe?",
            "summary": "",
            "category": "zorg",
        },
    )
    assert r.status_code == 303
    d = await live.store.discussion("mantelzorg")
    assert d is not None
    assert d.category_id == (await live.store.category("zorg")).id  # type: ignore[union-attr]
    edit = (await live.client.get("/admin/discussions/mantelzorg/edit", headers=BROWSER)).text
    assert '<option value="zorg" selected>' in edit
    r = await live.client.post(
        "/admin/discussions/mantelzorg/edit",
        headers=BROWSER,
        data={"csrf": token, "title": "Mantelzorg", "body": "Hoe?", "summary": "", "category": ""},
    )
    assert r.status_code == 303
    d = await live.store.discussion("mantelzorg")
    assert d is not None
    assert d.category_id is None
    edit = (await live.client.get("/admin/categories/zorg/edit", headers=BROWSER)).text
    assert 'id="posting-held" name="posting" value="held" checked' in edit
    r = await live.client.post(
        "/admin/categories/zorg/edit",
        headers=BROWSER,
        data={
            "csrf": token,
            "name": "Zorg en welzijn",
            "description": "",
            "posting": "open",
            "relay": "on",
        },
    )
    assert r.status_code == 303
    zorg = await live.store.category("zorg")
    assert zorg is not None
    assert (zorg.name, zorg.posting, zorg.relay_replies) == (
        "Zorg en welzijn",
        CategoryPosting.OPEN,
        True,
    )
    r = await live.client.post(
        "/admin/categories/zorg/edit",
        headers=BROWSER,
        data={"csrf": token, "name": "Zorg", "description": "", "posting": "everyone"},
    )
    assert r.status_code == 400  # a closed set of rules
    assert (await live.client.get("/admin/categories/nee/edit", headers=BROWSER)).status_code == 404


async def test_a_category_that_relays_replies_boosts_them_and_takes_them_back(
    live: Live, remote: RemoteServer
) -> None:
    cats = _categories(live)
    await cats.create(slug="verkeer", name="Verkeer")
    await live.discussions.create(
        slug="drempels", title="Drempels", body="Waar?", lang="nl", category="verkeer"
    )
    category = f"{live.base_url}/c/verkeer"
    group = f"{live.base_url}/d/drempels"
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    await alice.post(live.client, f"{category}/inbox", alice.activity("Follow", category))
    await drain(live)

    async def reply(text: str) -> dict[str, object]:
        note = bob.note(text, in_reply_to=f"{group}/m/0", mention=group)
        r = await bob.post(live.client, f"{group}/inbox", bob.create(note))
        assert r.status_code == 202, r.text
        await drain(live)
        return note

    def from_category() -> list[dict[str, object]]:
        return [d for _, _, d in remote.delivered if d["actor"] == category]

    remote.delivered.clear()
    await reply("Zonder relay")  # default off: the category boosts new discussions only
    assert from_category() == []
    await cats.edit("verkeer", relay_replies=True)
    await drain(live)
    remote.delivered.clear()
    relayed = await reply("Met relay")
    boosts = [d for d in from_category() if d["type"] == "Announce"]
    assert [b["object"] for b in boosts] == [relayed["id"]]
    assert remote.rejected == []  # signed with the category's key
    # a moderator removes it: the category takes its boost back, as the group does
    remote.delivered.clear()
    moderation = Moderation(live.settings, live.store)
    await moderation.moderate("drempels", 2, "delete", "spam")
    await drain(live)
    undos = [d for d in from_category() if d["type"] == "Undo"]
    assert [u["object"]["id"] for u in undos] == [boosts[0]["id"]]  # type: ignore[index]
    # a reply held for approval is boosted when a moderator approves it, not before
    await live.discussions.set_premoderate("drempels", True)
    remote.delivered.clear()
    held = await reply("Eerst goedkeuren")
    assert from_category() == []
    assert await moderation.moderate("drempels", 3, "approve", "") == "done"
    await drain(live)
    boosts = [d for d in from_category() if d["type"] == "Announce"]
    assert [b["object"] for b in boosts] == [held["id"]]
