"""The people's side: HTML pages and feeds, over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import pytest

from fedi_forum.config import Settings
from fedi_forum.models import DiscussionState, RemoteActor, utcnow
from tests.conftest import Live, live_instance
from tests.support.remote import RemoteServer
from tests.support.seed import add_replies, remote_actor

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


async def test_discussion_page_has_everything_the_forum_page_had(live: Live) -> None:
    d = await live.discussions.create(
        slug="speeltuin", title="Nieuwe speeltuin", body="Waar moet hij komen?", lang="nl"
    )
    await add_replies(live.store, d, 2)
    await add_replies(
        live.store,
        d,
        1,
        actor=remote_actor("bob", "Bob"),
        start=5,
        in_reply_to=f"https://mastodon.example/users/alice/statuses/{d.id}-0",
    )
    r = await live.client.get("/d/speeltuin", headers=BROWSER)
    assert r.status_code == 200
    page = r.text
    assert '<html lang="nl">' in page
    assert "<h1>Nieuwe speeltuin</h1>" in page
    assert "<strong>Nieuwe speeltuin</strong>" not in page  # the title once, not again
    assert "Waar moet hij komen?" in page
    index = (await live.client.get("/", headers=BROWSER)).text
    assert "<p>Waar moet hij komen?</p>" in index  # the excerpt: the text, not the title
    assert "Weergaven: 1" in page
    assert "Hierop reageren" in page
    assert f'value="@speeltuin@{live.domain}"' in page
    assert "Berichten in deze discussie" in page
    assert "Een probleem rapporteren?" in page
    assert 'href="/terms"' in page
    assert f'href="{live.base_url}/d/speeltuin/feed.rss"' in page
    assert f'href="{live.base_url}/d/speeltuin/feed.atom"' in page
    # messages in order, with author, handle, avatar, permalink and "in reply to"
    assert page.index('id="m1"') < page.index('id="m2"') < page.index('id="m3"')
    assert "@alice@mastodon.example" in page
    assert "><bdi>Bob</bdi></a>" in page
    # the avatar, through our media proxy (no reader's browser talks to mastodon.example)
    assert re.search(
        rf'src="{live.base_url}/media/[0-9a-f]{{32}}\?url=https%3A%2F%2Fmastodon\.example'
        r'%2Favatars%2Fbob\.png"',
        page,
    )
    assert 'src="https://mastodon.example' not in page
    assert 'href="/d/speeltuin#m3"' in page  # a permalink that works from any page
    assert re.search(r'<a href="/d/speeltuin#m1">reactie op #1</a>', page)
    assert "3 reacties" in page
    # landmarks and labels for screen readers
    for landmark in ("<main", "<header", "<footer", "<nav", 'for="handle"', 'class="skip"'):
        assert landmark in page


async def test_view_counter_ignores_reload_storms(live: Live) -> None:
    await live.discussions.create(slug="tel", title="Tel", body="b", lang="nl")
    for _ in range(30):
        await live.client.get("/d/tel", headers={**BROWSER, "User-Agent": "storm"})
    r = await live.client.get("/d/tel", headers={**BROWSER, "User-Agent": "someone else"})
    assert "Weergaven: 2" in r.text
    await live.services.views.flush()
    d = await live.store.discussion("tel")
    assert d is not None
    assert d.views == 2
    assert "set-cookie" not in r.headers


async def test_long_discussion_is_paged_by_keyset(live: Live) -> None:
    d = await live.discussions.create(slug="lang", title="Lang", body="b", lang="nl")
    await add_replies(live.store, d, 120)
    first = (await live.client.get("/d/lang", headers=BROWSER)).text
    assert 'id="m50"' in first
    assert 'id="m51"' not in first
    assert "Pagina 1 van 3" in first
    assert 'href="?after=50" rel="next"' in first
    assert 'href="?after=100" rel="last"' in first
    last = (await live.client.get("/d/lang?after=100", headers=BROWSER)).text
    assert 'id="m0"' in last  # the opening post heads every page
    assert 'id="m101"' in last
    assert 'id="m120"' in last
    assert 'id="m100"' not in last
    assert 'rel="next"' not in last
    assert 'href="?after=50" rel="prev"' in last
    assert (await live.client.get("/d/lang?after=500", headers=BROWSER)).status_code == 404
    bad = await live.client.get("/d/lang?after=abc", headers=BROWSER)
    assert bad.status_code == 400
    assert "<html" in bad.text


async def test_a_reader_follows_a_long_thread_across_pages(live: Live) -> None:
    """Replies point at messages on other pages; paging is at the top and the bottom;
    "jump to the newest"; each message offers "reply to this message"."""
    d = await live.discussions.create(slug="lang", title="Lang", body="b", lang="nl")
    await add_replies(live.store, d, 60)
    early = f"https://mastodon.example/users/alice/statuses/{d.id}-9"  # seq 10
    await add_replies(live.store, d, 60, start=60, in_reply_to=early)
    page = (await live.client.get("/d/lang?after=100", headers=BROWSER)).text
    assert 'id="m101"' in page
    assert '<a href="/d/lang#m10">reactie op #10</a>' in page  # on page 1, linked there
    assert page.count('<nav aria-label="Pagina') == 2  # top and bottom
    assert '<a href="?after=100" aria-current="page" aria-label="Pagina 3">3</a>' in page
    assert page.index('rel="prev"') < page.index('id="m101"') < page.rindex('rel="prev"')
    first = (await live.client.get("/d/lang", headers=BROWSER)).text
    assert '<a href="/d/lang?after=100#m120">Naar het nieuwste bericht</a>' in first
    assert 'href="/d/lang/interact?seq=7&amp;lang=nl"' in first
    assert "Op dit bericht reageren" in first
    assert (await live.client.get("/d/lang/interact?seq=7", headers=BROWSER)).status_code == 200
    await live.discussions.set_state("lang", DiscussionState.CLOSED)
    closed = (await live.client.get("/d/lang", headers=BROWSER)).text
    assert "Op dit bericht reageren" not in closed  # no path to a refused reply


async def test_replies_read_as_written_with_likes_and_the_official_answer_on_top(
    live: Live, remote: RemoteServer
) -> None:
    """The "@discussion" a Mastodon reply opens with is not shown (other mentions are);
    likes and boosts are counted per message and a Like shows at once (the page cache
    is keyed by revision); an official answer is pinned near the top as well."""
    await live.discussions.create(slug="plein", title="Het plein", body="b", lang="nl")
    group = f"{live.base_url}/d/plein"
    alice = remote.actor("alice")
    note = alice.note("x", in_reply_to=f"{group}/m/0", mention=group)
    note["content"] = (  # as Mastodon writes it (tests/interop/payloads)
        f'<p><span class="h-card" translate="no"><a href="{group}" class="u-url mention">'
        '@<span>plein</span></a></span> Eens met <span class="h-card"><a '
        'href="https://mamot.fr/@retiolus" class="u-url mention">@<span>retiolus</span></a>'
        "</span>, meer bankjes!</p>"
    )
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    before = (await live.client.get("/d/plein", headers=BROWSER)).text
    assert "<p>Eens met" in before
    assert "@<span>plein</span>" not in before
    assert "@<span>retiolus</span>" in before
    assert "keer leuk gevonden" not in before
    feed = (await live.client.get("/d/plein/feed.atom")).text
    assert "Eens met" in feed
    assert "@&lt;span&gt;plein" not in feed  # not in feeds either
    likes = []
    for n, liker in enumerate(("bob", "carol")):
        fan = remote.actor(liker, key_index=n + 1)
        like = fan.activity("Like", note["id"])
        likes.append((fan, like))
        assert (await fan.post(live.client, f"{group}/inbox", like)).status_code == 202
    liked = (await live.client.get("/d/plein", headers=BROWSER)).text
    assert "2 keer leuk gevonden" in liked
    fan, like = likes[0]
    undo = fan.activity("Undo", like)
    assert (await fan.post(live.client, f"{group}/inbox", undo)).status_code == 202
    unliked = (await live.client.get("/d/plein", headers=BROWSER)).text
    assert "1 keer leuk gevonden" in unliked  # an Undo is a new revision too
    await live.discussions.staff_reply("plein", username="beheer", text="Komt er", official=True)
    pinned = (await live.client.get("/d/plein", headers=BROWSER)).text
    assert "1 officieel antwoord" in pinned
    assert pinned.index("officieel antwoord") < pinned.index('id="m1"')
    assert '<a href="/d/plein#m2">Lees #2 op zijn plek</a>' in pinned


async def test_how_replying_works_is_explained_with_the_servers_the_operator_suggests(
    tmp_path: Path,
) -> None:
    async with live_instance(tmp_path) as plain:
        d = await plain.discussions.create(slug="uitleg", title="Uitleg", body="b", lang="nl")
        page = (await plain.client.get("/d/uitleg", headers=BROWSER)).text
        assert "Zo werkt reageren" in page
        assert f"Laat @uitleg@{plain.domain} in je reactie staan" in page
        assert "Minder openbaar" in page
        assert 'href="https://joinmastodon.org/servers"' in page
        assert "Een moderator leest elke reactie" not in page
        await plain.discussions.set_premoderate(d.slug, True)
        held = (await plain.client.get("/d/uitleg", headers=BROWSER)).text
        assert "Een moderator leest elke reactie" in held
    with pytest.raises(ValueError, match="not a host name"):
        Settings(recommended_servers="https://x.example/")
    chosen = Settings(recommended_servers="social.overheid.nl, mastodon.nl")
    assert chosen.recommended_hosts == ["social.overheid.nl", "mastodon.nl"]


async def test_a_discussion_link_shows_a_card_and_leads_to_its_group(live: Live) -> None:
    await live.discussions.create(
        slug="kaart", title="Kaart & co", body="Waar moet het bankje?", lang="nl"
    )
    r = await live.client.get("/d/kaart", headers=BROWSER)
    assert '<meta property="og:title" content="Kaart &amp; co">' in r.text
    assert '<meta property="og:description" content="Waar moet het bankje?">' in r.text
    assert f'<meta property="og:url" content="{live.base_url}/d/kaart">' in r.text
    assert r.headers["link"] == (
        f'<{live.base_url}/d/kaart>; rel="alternate"; type="application/activity+json"'
    )


async def test_hostile_remote_content_and_names_are_neutralised(live: Live) -> None:
    d = await live.discussions.create(slug="xss", title="<b>Titel</b>", body="b", lang="nl")
    evil = RemoteActor(
        id="https://evil.example/u/x",
        host="evil.example",
        type="Person",
        preferred_username="x<script>",
        name='<img src=x onerror="alert(1)">Evil',
        url="javascript:alert(1)",
        icon_url="javascript:alert(2)",
        inbox=None,
        shared_inbox=None,
        key_id=None,
        public_key_pem=None,
        fetched_at=utcnow(),
    )
    await add_replies(
        live.store,
        d,
        1,
        actor=evil,
        content=(
            '<p onclick="x()">hi<script>alert(3)</script></p><a href="javascript:alert(4)">k</a>'
        ),
    )
    page = (await live.client.get("/d/xss", headers=BROWSER)).text
    assert "<script" not in page
    assert 'onerror="alert' not in page
    assert "javascript:" not in page
    assert "onclick" not in page
    assert "&lt;img src=x" in page  # the name is shown as text
    assert "<h1>&lt;b&gt;Titel&lt;/b&gt;</h1>" in page
    csp = (await live.client.get("/d/xss", headers=BROWSER)).headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp


async def test_language_follows_query_then_accept_language(live: Live) -> None:
    await live.discussions.create(slug="taal", title="Taal", body="b", lang="nl")
    en = await live.client.get("/d/taal?lang=en", headers=BROWSER)
    assert '<html lang="en">' in en.text
    assert "Reply to this" in en.text
    assert en.headers["content-language"] == "en"
    assert "Views: 1" in en.text
    # the choice sticks without a cookie: our links carry it
    assert 'href="/about?lang=en"' in en.text
    assert 'href="/?lang=en"' in en.text
    by_header = await live.client.get("/d/taal", headers={**BROWSER, "Accept-Language": "en-US"})
    assert "Messages in this discussion" in by_header.text
    dutch = await live.client.get("/d/taal?lang=xx", headers=BROWSER)
    assert "Berichten in deze discussie" in dutch.text
    assert 'href="/d/taal?lang=en"' in dutch.text


async def test_index_lists_discussions_with_counts(live: Live) -> None:
    d = await live.discussions.create(slug="een", title="Eerste", body="Over de eerste", lang="nl")
    await live.discussions.create(slug="twee", title="Tweede", body="b", lang="nl")
    await live.discussions.create(slug="dicht", title="Dicht", body="b", lang="nl")
    await live.discussions.set_state("dicht", DiscussionState.CLOSED)
    await add_replies(live.store, d, 4)
    page = (await live.client.get("/", headers=BROWSER)).text
    assert page.index("Eerste") < page.index("Tweede")  # most recent activity first
    assert "Over de eerste" in page
    assert "4 reacties" in page
    assert "Gesloten voor reacties" in page


async def test_security_headers_on_every_response(live: Live) -> None:
    for path in ("/", "/about", "/.well-known/nodeinfo", "/nope"):
        r = await live.client.get(path, headers=BROWSER)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    nf = await live.client.get("/nope", headers=BROWSER)
    assert nf.status_code == 404
    assert "Niet gevonden" in nf.text
    api = await live.client.get("/nope")
    assert api.status_code == 404
    assert api.json() == {"error": "not found"}
    css = await live.client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    icon = await live.client.get("/static/group-icon.png")
    assert icon.content.startswith(b"\x89PNG")


async def test_about_and_terms(live: Live) -> None:
    about = (await live.client.get("/about", headers=BROWSER)).text
    assert 'id="report"' in about
    assert "mailto:moderatie@example.nl" in about
    assert "geen cookies" in about
    terms = (await live.client.get("/terms?lang=en", headers=BROWSER)).text
    assert "<h1>Terms of use</h1>" in terms
    assert "Be respectful" in terms


@pytest.mark.parametrize("kind", ["rss", "atom"])
async def test_feeds_are_valid_ordered_and_capped(live: Live, kind: str) -> None:
    d = await live.discussions.create(slug="nieuws", title="Feed & co", body="b", lang="nl")
    await add_replies(live.store, d, 60, content="<p>tekst <script>x</script></p>")
    r = await live.client.get(f"/d/nieuws/feed.{kind}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(f"application/{kind}+xml")
    parsed = feedparser.parse(r.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Feed & co"
    assert len(parsed.entries) == 50
    ids = [e.id for e in parsed.entries]
    assert ids[0].endswith(f"{d.id}-59")
    assert ids[-1].endswith(f"{d.id}-10")
    assert parsed.entries[0].link == f"{live.base_url}/d/nieuws?after=50#m60"
    assert "script" not in parsed.entries[0].summary
    instance = feedparser.parse((await live.client.get(f"/feed.{kind}")).content)
    assert not instance.bozo
    assert len(instance.entries) == 50
    assert (await live.client.get("/feed.json")).status_code == 404


async def test_operator_texts_are_shown_as_text(tmp_path: Path) -> None:
    import httpx

    from fedi_forum.app import create_app
    from fedi_forum.config import Settings
    from tests.support.live import live_server

    about = tmp_path / "about.txt"
    about.write_text("Gemeente Voorbeeld <b>forum</b>.\n\nTweede alinea.")

    def make(base_url: str):  # type: ignore[no-untyped-def]
        return create_app(
            Settings(
                base_url=base_url,
                data_dir=tmp_path / "d",
                keys_dir=tmp_path / "k",
                about_file=about,
            )
        )

    async with live_server(make) as (base_url, _), httpx.AsyncClient(base_url=base_url) as c:
        page = (await c.get("/about", headers=BROWSER)).text
    assert "<p>Gemeente Voorbeeld &lt;b&gt;forum&lt;/b&gt;.</p>" in page
    assert "<p>Tweede alinea.</p>" in page


async def test_cached_pages_never_go_stale(live: Live, remote: RemoteServer) -> None:
    """Pages are cached whole; anything they show changes their key."""
    await live.discussions.create(slug="vers", title="Vers", body="b", lang="nl")
    group = f"{live.base_url}/d/vers"
    alice = remote.actor("alice")
    await alice.post(
        live.client,
        f"{group}/inbox",
        alice.create(alice.note("eerste", in_reply_to=f"{group}/m/0")),
    )
    first = (await live.client.get("/d/vers", headers=BROWSER)).text
    assert "><bdi>Alice</bdi></a>" in first
    assert "Weergaven: 1" in first
    # a profile change of an author on the page
    await alice.post(
        live.client,
        f"{group}/inbox",
        alice.activity("Update", alice.document() | {"name": "Alice B."}),
    )
    page = (await live.client.get("/d/vers", headers={**BROWSER, "User-Agent": "b"})).text
    assert "><bdi>Alice B.</bdi></a>" in page
    assert "Weergaven: 2" in page
    # a new reply, a moderation, a state change
    await alice.post(
        live.client,
        f"{group}/inbox",
        alice.create(alice.note("tweede", in_reply_to=f"{group}/m/0")),
    )
    assert "tweede" in (await live.client.get("/d/vers", headers=BROWSER)).text
    await live.discussions.set_state("vers", DiscussionState.LOCKED)
    assert "Vergrendeld" in (await live.client.get("/d/vers", headers=BROWSER)).text
