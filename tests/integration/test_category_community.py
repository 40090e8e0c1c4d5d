"""A category as a Lemmy community (docs/rules.md §18, docs/categories.md): a Lemmy
instance that follows a category files each of its discussions as a post in that
community and the replies the category relays as its comments; an edit of the opening
post reaches it. Over real HTTP, on both engines. No Lemmy runs here: what it checks is
modelled in tests/support/lemmy.py from its source, and fed what we really delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from fedi_forum.forum.categories import Categories
from fedi_forum.models import DiscussionState
from tests.conftest import Live
from tests.integration.test_instances import cli
from tests.support.delivery import drain, fast_retries  # noqa: F401 (fast_retries: autouse)
from tests.support.http import AS2, BROWSER, PASSWORD, csrf_token, login
from tests.support.lemmy import LemmyModel, Refused
from tests.support.remote import RemoteServer, remote_server

PAYLOADS = Path(__file__).parents[1] / "interop" / "payloads"


async def _fetch(url: str) -> dict[str, Any]:
    """As Lemmy dereferences an id: a GET for ActivityPub JSON."""
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url, headers={"Accept": AS2})
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc


def _lemmy_comment(remote: RemoteServer, opening: str, category: str) -> dict[str, Any]:
    """The golden Lemmy comment, pointed at our opening post and category (the
    community Lemmy filed the post in), with the ``audience`` Lemmy ≥ 0.18 adds."""
    text = (
        (PAYLOADS / "lemmy_create_note.json")
        .read_text()
        .replace("http://ds9.lemmy.ml/post/1", opening)
        .replace("http://enterprise.lemmy.ml/c/main", category)
        .replace("http://ds9.lemmy.ml", remote.base_url)
    )
    doc: dict[str, Any] = orjson.loads(text)
    doc["object"]["audience"] = category
    return doc


async def test_lemmy_files_a_categorys_discussions_and_replies_in_it(
    live: Live, remote: RemoteServer
) -> None:
    remote.software = "lemmy"  # gets the FEP-1b12 forms
    cats = Categories(live.settings, live.store, live.discussions.keyring)
    await cats.create(slug="verkeer", name="Verkeer")
    await cats.edit("verkeer", relay_replies=True)  # Lemmy threads comments it is sent
    await live.services.staff.create("anna", PASSWORD, "moderator")
    category = f"{live.base_url}/c/verkeer"
    reader = remote.actor("lemmy_alpha", path="/u/lemmy_alpha")
    r = await reader.post(live.client, f"{category}/inbox", reader.activity("Follow", category))
    assert r.status_code == 202, r.text
    await drain(live)

    await live.discussions.create(
        slug="drempels",
        title="Drempels in de Dorpsstraat",
        body="Waar zijn ze nodig?",
        lang="nl",
        category="verkeer",
        author="anna",
    )
    # opened without a person named: the group is the author, which Lemmy refuses
    await live.discussions.create(
        slug="anoniem", title="Zonder auteur", body="Tekst", lang="nl", category="verkeer"
    )
    opening = f"{live.base_url}/d/drempels/m/0"
    async with remote_server() as masto:
        bob = masto.actor("bob")
        note = bob.note(
            "Bij de school!", in_reply_to=opening, mention=f"{live.base_url}/d/drempels"
        )
        r = await bob.post(live.client, f"{live.base_url}/inbox", bob.create(note))
        assert r.status_code == 202, r.text
        await live.discussions.staff_reply(
            "drempels", username="anna", text="Genoteerd.", in_reply_to_seq=1
        )
        # a Lemmy user comments on the post, sent to the community's inbox as Lemmy does
        comment = _lemmy_comment(remote, opening, category)
        r = await reader.post(live.client, f"{category}/inbox", comment)
        assert r.status_code == 202, r.text
        assert await live.store.note_location(comment["object"]["id"]) == ("drempels", 3)
        await live.discussions.edit("drempels", title="Drempels in de Dorpsstraat en Kerkweg")
        await drain(live)

        lemmy = LemmyModel(_fetch, followed={category})
        refused: dict[str, str] = {}
        for _, _, doc in remote.delivered:
            if doc["type"] != "Announce" or doc["actor"] != category:
                continue
            try:
                await lemmy.receive(doc)
            except Refused as exc:
                refused[str(doc["object"]["object"]["id"])] = str(exc)

    assert lemmy.posts == {opening: category}
    assert lemmy.titles[opening] == "Drempels in de Dorpsstraat en Kerkweg"  # the edit
    assert lemmy.edits == 1
    staff_reply = await live.store.note((await live.store.discussion("drempels")).id, 2)  # type: ignore[union-attr]
    assert staff_reply is not None
    assert lemmy.comments == {
        note["id"]: opening,
        staff_reply.ap_id: opening,
        comment["object"]["id"]: opening,
    }
    anonymous = f"{live.base_url}/d/anoniem/m/0"
    assert refused == {anonymous: "creator is a Group, not a person (UserTypes)"}


async def test_what_we_write_in_a_category_names_it_as_audience(live: Live) -> None:
    """The fields Lemmy files by, as served: the opening post's author and ``audience``
    (the category; the group when uncategorised), and a staff reply's."""
    cats = Categories(live.settings, live.store, live.discussions.keyring)
    await cats.create(slug="groen", name="Groen")
    await live.services.staff.create("anna", PASSWORD, "moderator")
    await live.discussions.create(
        slug="bomen", title="Bomen", body="Welke?", lang="nl", category="groen", author="anna"
    )
    await live.discussions.create(slug="los", title="Los", body="Iets", lang="nl")
    await live.discussions.staff_reply("bomen", username="anna", text="Eiken.")
    bomen = (await live.client.get("/d/bomen/m/0", headers={"Accept": AS2})).json()
    assert bomen["attributedTo"] == f"{live.base_url}/staff/anna"
    assert bomen["audience"] == f"{live.base_url}/c/groen"
    outbox = (await live.client.get("/d/bomen/outbox", headers={"Accept": AS2})).json()
    first = outbox["first"]
    page = (
        first
        if isinstance(first, dict)
        else (await live.client.get(first, headers={"Accept": AS2})).json()
    )
    creates = [a for a in page["orderedItems"] if a["type"] == "Create"]
    assert [c["actor"] for c in creates] == [f"{live.base_url}/staff/anna"]
    los = (await live.client.get("/d/los/m/0", headers={"Accept": AS2})).json()
    assert los["attributedTo"] == los["audience"] == f"{live.base_url}/d/los"
    d = await live.store.discussion("bomen")
    assert d is not None
    reply = await live.store.note_raw(d.id, 1)
    assert reply is not None
    assert orjson.loads(reply)["audience"] == f"{live.base_url}/c/groen"
    person = (await live.client.get("/staff/anna", headers={"Accept": AS2})).json()
    assert person["type"] == "Person"


async def test_pinned_discussions_are_the_categorys_featured_posts(live: Live) -> None:
    cats = Categories(live.settings, live.store, live.discussions.keyring)
    await cats.create(slug="groen", name="Groen")
    await cats.ensure_forum()
    await live.services.staff.create("beheer", PASSWORD, "admin")
    for slug in ("bomen", "parken", "oud"):
        await live.discussions.create(
            slug=slug,
            title=slug.title(),
            body="Tekst",
            lang="nl",
            category="groen",
            author="beheer",
        )
    category = f"{live.base_url}/c/groen"
    actor = (await live.client.get("/c/groen", headers={"Accept": AS2})).json()
    assert actor["featured"] == f"{category}/featured"
    # an administrator pins two, on the admin page
    await login(live.client, "beheer")
    page = await live.client.get("/admin/discussions", headers=BROWSER)
    token = csrf_token(page.text)
    for slug in ("oud", "parken"):  # pinned in another order than made
        r = await live.client.post(
            f"/admin/discussions/{slug}/pin-on", headers=BROWSER, data={"csrf": token}
        )
        assert r.status_code == 303
    assert "Losmaken" in (await live.client.get("/admin/discussions", headers=BROWSER)).text
    featured = (await live.client.get("/c/groen/featured", headers={"Accept": AS2})).json()
    pinned = [f"{live.base_url}/d/{s}/m/0" for s in ("parken", "oud")]  # latest pin first
    assert [item["id"] for item in featured["orderedItems"]] == pinned
    assert featured["totalItems"] == 2
    assert all(item["type"] == "Article" for item in featured["orderedItems"])
    forum = (await live.client.get("/c/forum/featured", headers={"Accept": AS2})).json()
    assert [item["id"] for item in forum["orderedItems"]] == pinned
    # a Lemmy refreshing the community marks them featured
    lemmy = LemmyModel(_fetch, followed={category})
    assert await lemmy.read_featured(category) == pinned
    # the category's page lists them first
    html = (await live.client.get("/c/groen", headers=BROWSER)).text
    assert html.index("Vastgepind") < html.index(">Parken<") < html.index("<h2>Discussies")
    # unpinned (the command), deleted: gone from featured
    assert (await cli(live, "discussion", "pin", "parken", "off")).returncode == 0
    await live.discussions.set_state("oud", DiscussionState.DELETED)
    featured = (await live.client.get("/c/groen/featured", headers={"Accept": AS2})).json()
    assert featured["orderedItems"] == []
    assert "Vastgepind" not in (await live.client.get("/c/groen", headers=BROWSER)).text
    assert (await cli(live, "discussion", "pin", "bestaatniet", "on")).returncode == 2
