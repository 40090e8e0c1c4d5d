"""Starting a discussion from the fediverse (docs/categories.md) over real HTTP, on both
engines: a public post that mentions a category and replies to nothing waits for a
moderator, opens a discussion at once, or is refused — by the category's posting rule —
and its author is answered; nothing else ever starts one."""

from __future__ import annotations

from typing import Any

import pytest

from fedi_forum.errors import Conflict
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.proposals import Proposals
from fedi_forum.models import CategoryPosting, ProposalState
from tests.conftest import Live
from tests.support.delivery import drain, fast_retries  # noqa: F401 (fast_retries: autouse)
from tests.support.http import AS2, BROWSER, PASSWORD, csrf_token, login
from tests.support.remote import PUBLIC, RemoteActor, RemoteServer


def mention_post(actor: RemoteActor, category: str, text: str, **extra: Any) -> dict[str, Any]:
    """A Mastodon post that mentions the category, as Mastodon writes one."""
    note = actor.note("", mention=category, **extra)
    note["content"] = (
        f'<p><span class="h-card"><a href="{category}" class="u-url mention">@<span>'
        f"{category.rsplit('/', 1)[1]}</span></a></span> {text}</p>"
    )
    actor.server.objects[note["id"]] |= {"content": note["content"]}
    return note


async def _setup(live: Live, posting: CategoryPosting = CategoryPosting.HELD) -> str:
    cats = Categories(live.settings, live.store, live.discussions.keyring)
    await cats.create(slug="verkeer", name="Verkeer")
    if posting is not CategoryPosting.HELD:
        await cats.edit("verkeer", posting=posting)
    return f"{live.base_url}/c/verkeer"


async def test_a_mention_waits_for_a_moderator_then_opens_a_discussion(
    live: Live, remote: RemoteServer
) -> None:
    category = await _setup(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    post = mention_post(
        alice, category, "Drempels in de Dorpsstraat<br>Er wordt daar te hard gereden."
    )
    r = await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
    assert r.status_code == 202, r.text
    assert await live.store.discussions() == []  # nothing public yet
    waiting = await live.store.held_proposals()
    assert [(p.title, p.author_id) for p in waiting] == [("Drempels in de Dorpsstraat", alice.id)]
    assert "Er wordt daar te hard gereden." in waiting[0].content
    assert "@<span>verkeer" not in waiting[0].content  # the mention is how it came
    # the same Create again: one proposal
    await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
    assert len(await live.store.held_proposals()) == 1
    # a moderator sees it and opens it
    await live.services.staff.create("mod", PASSWORD, "moderator")
    await login(live.client, "mod")
    overview = await live.client.get("/admin", headers=BROWSER)
    assert "1 voorgestelde discussie wacht" in overview.text
    page = await live.client.get("/admin/proposals", headers=BROWSER)
    assert "Drempels in de Dorpsstraat" in page.text
    token = csrf_token(page.text)
    bad = await live.client.post(
        f"/admin/proposals/{waiting[0].id}/publish", headers=BROWSER, data={"csrf": token}
    )
    assert bad.status_code == 404  # a closed set of actions
    r = await live.client.post(
        f"/admin/proposals/{waiting[0].id}/approve", headers=BROWSER, data={"csrf": token}
    )
    assert r.status_code == 303
    again = await live.client.post(
        f"/admin/proposals/{waiting[0].id}/approve", headers=BROWSER, data={"csrf": token}
    )
    assert again.status_code == 409  # decided once
    d = await live.store.discussion("drempels_in_de_dorpsstraat")
    assert d is not None
    assert d.title == "Drempels in de Dorpsstraat"
    assert d.category_id is not None
    opening = (await live.client.get(f"/d/{d.slug}/m/0", headers={"Accept": AS2})).json()
    assert opening["type"] == "Article"
    # posted by the moderator who opened it, for alice (forum servers take a post only
    # from a person: docs/rules.md §18), filed under the category
    assert opening["attributedTo"] == f"{live.base_url}/staff/mod"
    assert opening["audience"] == category
    assert "Gestart door" in opening["content"]
    assert "Er wordt daar te hard gereden." in opening["content"]
    host = remote.base_url.removeprefix("http://")
    assert {"type": "Mention", "href": alice.id, "name": f"@alice@{host}"} in opening["tag"]
    # alice is answered: a direct note from the category, in reply to her post
    await drain(live)
    answers = [
        (signer, doc)
        for signer, _, doc in remote.delivered
        if doc["type"] == "Create" and doc["actor"] == category
    ]
    assert len(answers) == 1
    signer, create = answers[0]
    assert signer == category
    note = create["object"]
    assert note["inReplyTo"] == post["id"]
    assert note["to"] == [alice.id]
    assert f"{live.base_url}/d/{d.slug}" in note["content"]
    served = await live.client.get(note["id"].removeprefix(live.base_url), headers={"Accept": AS2})
    assert served.json()["id"] == note["id"]
    # a reply to alice's post on her server comes into the discussion
    reply = bob.note("Eens, en ook bij de school.", in_reply_to=post["id"])
    r = await bob.post(live.client, f"{live.base_url}/inbox", bob.create(reply))
    assert r.status_code == 202, r.text
    html = (await live.client.get(f"/d/{d.slug}", headers=BROWSER)).text
    assert "ook bij de school" in html


async def test_open_starts_at_once_and_closed_refuses_politely(
    live: Live, remote: RemoteServer
) -> None:
    category = await _setup(live, CategoryPosting.OPEN)
    alice = remote.actor("alice")
    page = alice.note("<p>Alle tekst van het bericht.</p>", type="Page", name="Een Lemmy-titel")
    page["to"] = [PUBLIC, category]
    remote.objects[page["id"]] |= {"to": page["to"]}
    r = await alice.post(live.client, f"{live.base_url}/inbox", alice.create(page))
    assert r.status_code == 202, r.text
    d = await live.store.discussion("een_lemmy_titel")
    assert d is not None  # Lemmy's form: its name is the title
    cats = Categories(live.settings, live.store, live.discussions.keyring)
    await cats.edit("verkeer", posting=CategoryPosting.CLOSED)
    actor = (await live.client.get("/c/verkeer", headers={"Accept": AS2})).json()
    assert actor["postingRestrictedToMods"] is True
    refused = mention_post(alice, category, "Nog een onderwerp")
    await alice.post(live.client, f"{live.base_url}/inbox", alice.create(refused))
    assert await live.store.discussion("nog_een_onderwerp") is None
    await drain(live)
    answers = [d["object"] for _, _, d in remote.delivered if d["type"] == "Create"]
    assert [a["inReplyTo"] for a in answers] == [page["id"], refused["id"]]
    assert "neemt geen nieuwe discussies" in answers[1]["content"]


async def test_only_a_public_post_that_replies_to_nothing_proposes(
    live: Live, remote: RemoteServer
) -> None:
    category = await _setup(live)
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    alice = remote.actor("alice")
    followers_only = mention_post(alice, category, "Alleen volgers", to=[alice.followers])
    followers_only["cc"] = [category]
    unlisted = mention_post(alice, category, "Minder openbaar", to=[alice.followers])
    unlisted["cc"] = [PUBLIC, category]
    a_reply = mention_post(
        alice, category, "Een reactie", in_reply_to=f"{live.base_url}/d/park/m/0"
    )
    elsewhere = alice.note("Iets op mijn eigen server")
    reply_elsewhere = mention_post(alice, category, "Reactie elders", in_reply_to=elsewhere["id"])
    for post in (followers_only, unlisted):
        remote.objects[post["id"]] |= {"to": post["to"], "cc": post["cc"]}
    for post in (followers_only, unlisted, a_reply, reply_elsewhere):
        r = await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
        assert r.status_code == 202, r.text
    assert await live.store.held_proposals() == []
    # the reply went where it replied to, not into a new discussion
    assert (await live.store.discussion("park")).reply_count == 1  # type: ignore[union-attr]
    # a mention of a category's collection, or of no category, proposes nothing
    for address in (f"{category}/outbox", f"{live.base_url}/c/nee"):
        post = mention_post(alice, address, "Verkeerd adres")
        await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
    assert await live.store.held_proposals() == []


async def test_one_author_cannot_flood_the_queue(live: Live, remote: RemoteServer) -> None:
    category = await _setup(live)
    alice = remote.actor("alice")
    for n in range(5):
        post = mention_post(alice, category, f"Onderwerp {n}")
        await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
    waiting = await live.store.held_proposals()
    assert [p.title for p in waiting] == ["Onderwerp 0", "Onderwerp 1", "Onderwerp 2"]
    proposals = Proposals(live.settings, live.store, live.discussions)
    await proposals.refuse(waiting[0].id)
    with pytest.raises(Conflict):
        await proposals.approve(waiting[0].id)
    assert (await live.store.proposal(waiting[0].id)).state is ProposalState.REFUSED  # type: ignore[union-attr]
    # room again: the next one waits
    post = mention_post(alice, category, "Onderwerp 5")
    await alice.post(live.client, f"{live.base_url}/inbox", alice.create(post))
    assert len(await live.store.held_proposals()) == 3
