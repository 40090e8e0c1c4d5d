"""``GET /search`` (docs/search.md) over real HTTP, on both engines: what is found
(stems, compounds, titles), what never is (unlisted, held, hidden, removed, deleted),
and what bad input gets."""

from __future__ import annotations

import re

import pytest

from fedi_forum.activitypub import search_text
from fedi_forum.forum.moderation import Moderation
from fedi_forum.models import DiscussionState
from tests.conftest import Live
from tests.support.http import BROWSER
from tests.support.remote import PUBLIC, RemoteServer


async def _discussion(live: Live, slug: str = "park", title: str = "Het park") -> str:
    await live.discussions.create(slug=slug, title=title, body="Wat vindt u ervan?", lang="nl")
    return f"{live.base_url}/d/{slug}"


async def _found(live: Live, query: str, **params: str) -> list[str]:
    """The result links of a search, in rank order."""
    r = await live.client.get("/search", params={"q": query, **params}, headers=BROWSER)
    assert r.status_code == 200, r.text
    results = r.text.split('<ol class="results"', 1)
    if len(results) == 1:
        return []
    return re.findall(r'<h2><a href="([^"]+)">', results[1])


async def test_words_are_found_by_their_stem_and_as_part_of_compounds(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    for text in (
        "Er moeten meer bomen in de straten komen.",  # 1
        "Een fietspad langs de speeltuinen.",  # 2
        "Niets over het onderwerp.",  # 3
    ):
        note = alice.note(text, in_reply_to=f"{group}/m/0")
        assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).is_success
    assert await _found(live, "boom") == ["/d/park#m1"]  # bomen → boom
    assert await _found(live, "straat") == ["/d/park#m1"]  # straten → straat
    assert await _found(live, "fiets") == ["/d/park#m2"]  # a compound's head
    assert await _found(live, "speeltuin fietsen") == ["/d/park#m2"]  # every word
    assert await _found(live, "boom fiets") == []
    page = (await live.client.get("/search?q=de+een", headers=BROWSER)).text
    assert "te vaak voor" in page  # only common words: nothing to look for
    assert await _found(live, "de fietspad een") == ["/d/park#m2"]  # common words left out
    # the title finds the opening post first
    assert (await _found(live, "park"))[0] == "/d/park#m0"
    # marked in the snippet, escaped around the marks
    page = (await live.client.get("/search?q=bomen", headers=BROWSER)).text
    assert "meer <mark>bomen</mark> in de <mark>straten</mark>" not in page
    assert "meer <mark>bomen</mark> in de straten" in page


async def test_a_reply_s_stems_are_made_before_the_write_only_on_sqlite(
    live: Live, remote: RemoteServer, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's index trigger takes stems the request made beforehand (out of the
    writer's transaction); PostgreSQL's makes its own tsvector, so stems made for it
    would be CPU thrown away on every reply."""
    made: list[str] = []
    prepare = search_text.prepare

    def spy(fragment: str, lang: str | None) -> None:
        made.append(fragment)
        prepare(fragment, lang)

    monkeypatch.setattr(search_text, "prepare", spy)
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("Er moeten meer bomen komen.", in_reply_to=f"{group}/m/0")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).is_success
    assert await _found(live, "boom") == ["/d/park#m1"]
    if engine == "sqlite":
        assert made == ["<p>Er moeten meer bomen komen.</p>"]
        # taken by the trigger, not made again (other tests' refused notes may remain)
        assert ("<p>Er moeten meer bomen komen.</p>", "nl") not in search_text._prepared
    else:
        assert made == []


async def test_only_what_the_public_may_see_is_found(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")

    async def reply(text: str, to: list[str] | None = None, cc: list[str] | None = None) -> None:
        note = alice.note(text, in_reply_to=f"{group}/m/0", to=to, cc=cc)
        r = await alice.post(live.client, f"{group}/inbox", alice.create(note))
        assert r.is_success, r.text

    await reply("zichtbaar kastanje")  # 1
    await reply("minderopenbaar kastanje", to=[alice.followers], cc=[PUBLIC])  # 2: unlisted
    await reply("volgersalleen kastanje", to=[alice.followers], cc=[])  # never stored
    assert await _found(live, "kastanje") == ["/d/park#m1"]
    assert await _found(live, "minderopenbaar") == []
    assert await _found(live, "volgersalleen") == []
    # a held reply is not found until it is approved
    await live.discussions.set_premoderate("park", True)
    await reply("wachtrij kastanje")  # 3, held
    assert await _found(live, "wachtrij") == []
    moderation = Moderation(live.settings, live.store)
    await moderation.moderate("park", 3, "approve", "")
    assert await _found(live, "wachtrij") == ["/d/park#m3"]
    await live.discussions.set_premoderate("park", False)
    # hidden: gone at once; restored: back; removed: gone for good
    await moderation.moderate("park", 3, "hide", "spam")
    assert await _found(live, "wachtrij") == []
    await moderation.moderate("park", 3, "restore", "")
    assert await _found(live, "wachtrij") == ["/d/park#m3"]
    await moderation.moderate("park", 3, "delete", "spam")
    assert await _found(live, "wachtrij") == []
    # the author's own Delete
    note = alice.note("spijt kastanje", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    assert len(await _found(live, "spijt")) == 1
    deleted = alice.activity("Delete", {"id": note["id"], "type": "Tombstone"})
    assert (await alice.post(live.client, f"{group}/inbox", deleted)).is_success
    assert await _found(live, "spijt") == []
    # an edit is found by its new words only
    edited = alice.note("oude woorden", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(edited))
    edited = {**edited, "content": "<p>nieuwe woorden</p>", "updated": "2026-11-29T10:00:00Z"}
    assert (
        await alice.post(live.client, f"{group}/inbox", alice.activity("Update", edited))
    ).is_success
    assert await _found(live, "oude") == []
    assert len(await _found(live, "nieuwe")) == 1
    # a deleted discussion: none of it
    await live.discussions.set_state("park", DiscussionState.DELETED)
    assert await _found(live, "kastanje") == []
    assert await _found(live, "park") == []


async def test_a_new_title_is_found_and_the_old_one_not(live: Live) -> None:
    await _discussion(live, "plein", "Het marktplein")
    assert await _found(live, "marktplein") == ["/d/plein#m0"]
    await live.discussions.edit("plein", title="De kermis")
    assert await _found(live, "marktplein") == []
    assert await _found(live, "kermis") == ["/d/plein#m0"]


async def test_dates_filter_and_pages_are_bounded(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    for day in ("2026-01-10", "2026-02-10"):
        note = alice.note(f"lantaarn op {day}", in_reply_to=f"{group}/m/0")
        note["published"] = f"{day}T23:59:59Z"
        await alice.post(live.client, f"{group}/inbox", alice.create(note))
    assert await _found(live, "lantaarn", to="2026-01-10") == ["/d/park#m1"]
    assert await _found(live, "lantaarn", **{"from": "2026-01-11"}) == ["/d/park#m2"]
    assert len(await _found(live, "lantaarn")) == 2
    for bad in ("from=2026-13-01", "to=gisteren", "page=0", "page=11", "page=-1", "page=1e3"):
        r = await live.client.get(f"/search?q=lantaarn&{bad}", headers=BROWSER)
        assert r.status_code == 400, bad


async def test_query_syntax_and_markup_are_only_words(live: Live, remote: RemoteServer) -> None:
    """The query is the visitor's: FTS5 and tsquery syntax, quotes and markup are
    reduced to words (never a 500), and shown back escaped."""
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("&lt;b&gt;bankje&lt;/b&gt; NEAR", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    for query in (
        '"bankje',
        "bankje*",
        "NEAR(bankje",
        "bankje OR",
        "bankje:*",
        "bankje & !",
        "bankje) | (x",
        "'bankje'",
        "-bankje",
        "^bankje",
        "bankje_",  # FTS5 splits on "_": one query word must be one token
        "bank_je",
        "bankje\u0301",  # a combining accent
        "BÁNKJE",
        "bankje " + "de " * 300,  # past the 200 characters read
    ):
        r = await live.client.get("/search", params={"q": query}, headers=BROWSER)
        assert r.status_code == 200, query
        assert "/d/park#m1" in r.text, query
    r = await live.client.get("/search", params={"q": "<script>bankje"}, headers=BROWSER)
    assert "<script>bankje" not in r.text
    assert "&lt;script&gt;bankje" in r.text
    r = await live.client.get("/search", params={"q": "bankje"}, headers=BROWSER)
    assert "&lt;b&gt;<mark>bankje</mark>&lt;/b&gt;" in r.text  # the note's text, escaped
    for empty in ("", "  ", ";;", "'"):
        r = await live.client.get("/search", params={"q": empty}, headers=BROWSER)
        assert r.status_code == 200
        assert '<ol class="results"' not in r.text


async def test_the_index_can_be_built_afresh(live: Live, remote: RemoteServer) -> None:
    """``fedi-forum search reindex``'s store call, on both engines."""
    group = await _discussion(live)
    alice = remote.actor("alice")
    note = alice.note("Een platanenrij", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))
    await live.store.db.write(lambda conn: conn.execute("DELETE FROM search_index"))
    assert await _found(live, "platanenrij") == []
    assert await live.store.reindex_search() == 2  # the opening post and the reply
    assert await _found(live, "platanenrij") == ["/d/park#m1"]
    assert await _found(live, "park") == ["/d/park#m0"]
