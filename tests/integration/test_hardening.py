"""Hardening over real HTTP (security issue #11, items 11-20): numbers, admin actions,
redirects, feeds, spoofing characters, hopeless deliveries, file modes."""

from __future__ import annotations

import httpx

from tests.conftest import Live
from tests.support.http import BROWSER, PASSWORD, csrf_token, login
from tests.support.remote import RemoteServer

HUGE = "99999999999999999999999"  # past 2**63: SQLite would overflow (a 500)


async def test_numbers_past_64_bits_are_404_never_500(live: Live) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    for path in (
        f"/d/park/m/{HUGE}",
        f"/d/park/m/{HUGE}/replies",
        f"/d/park/m/{HUGE}/activity",
        f"/d/park/m/{HUGE}/report",
        "/d/park/m/9223372036854775808",  # 2**63
    ):
        for accept in ("text/html", "application/activity+json"):
            r = await live.client.get(path, headers={"Accept": accept})
            assert r.status_code == 404, (path, accept, r.status_code)
    r = await live.client.post(f"/d/park/m/{HUGE}/report", data={"reason": "spam"})
    assert r.status_code in (404, 400)
    await live.services.staff.create("beheer", PASSWORD, "admin")
    assert (await login(live.client, "beheer")).status_code == 303
    csrf = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    for path in (f"/admin/reports/{HUGE}/resolve", f"/admin/notes/park/{HUGE}/hide"):
        r = await live.client.post(path, data={"csrf": csrf, "reason": "spam"}, headers=BROWSER)
        assert r.status_code == 404, path


async def test_unknown_admin_actions_are_404_and_change_nothing(live: Live) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    await live.services.staff.create("beheer", PASSWORD, "admin")
    assert (await login(live.client, "beheer")).status_code == 303
    csrf = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)

    async def post(path: str, **data: str) -> httpx.Response:
        return await live.client.post(path, data={"csrf": csrf, **data}, headers=BROWSER)

    block = {"kind": "domain", "value": "spam.example", "reason": "spam", "confirm": "yes"}
    assert (await post("/admin/blocks/add", **block)).status_code == 303
    # a back value outside the closed set goes to the overview, never elsewhere
    off = await post(
        "/admin/blocks/remove", kind="domain", value="none.example", back="//x.example"
    )
    assert off.headers["location"] == "/admin"
    for path in (
        "/admin/blocks/whatever",
        "/admin/blocks/unblock",
        "/admin/reports/1/frobnicate",
        "/admin/discussions/park/explode",
        "/admin/notes/park/1/obliterate",
        "/admin/remote/befriend",
        "/admin/discussions/park/image",  # kind (from a form): a closed set too
    ):
        r = await post(path, kind="domain", value="spam.example", handle="x@y.example")
        assert r.status_code == 404, path
    blocks = await live.store.block_list()
    assert [b["value"] for b in blocks] == ["spam.example"]  # nothing was unblocked


async def test_feeds_stay_valid_xml_with_ordinary_and_hostile_content(
    live: Live, remote: RemoteServer
) -> None:
    import feedparser

    await live.discussions.create(slug="park", title="Park & <plein>", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    # what Mastodon really sends: <br>, &nbsp;, a mention link; and worse
    bodies = [
        '<p><span class="h-card"><a href="https://m.example/@x" class="u-url mention">@<span>'
        "park</span></a></span> Eerste regel<br>tweede&nbsp;regel &amp; meer</p>",
        "<p>controle\x0bteken\x01 en \ufffe en ]]> en <![CDATA[ x ]]></p>",
        '<p>a</p><script>alert(1)</script><img src=x onerror="alert(2)"><p>b &lt; c</p>',
    ]
    for text in bodies:
        note = dict(alice.note("x", in_reply_to=f"{group}/m/0"), content=text)
        r = await alice.post(live.client, f"{group}/inbox", alice.create(note))
        assert r.status_code == 202, r.text
    for path in ("/d/park/feed.rss", "/d/park/feed.atom", "/feed.rss", "/feed.atom"):
        r = await live.client.get(path)
        assert r.status_code == 200
        parsed = feedparser.parse(r.content)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert len(parsed.entries) == 4, path
        html = parsed.entries[2].get("summary", "") or parsed.entries[2].content[0].value
        assert "tweede" in parsed.entries[2].summary if "rss" in path else "tweede" in html
        assert "<script" not in r.text
        if path.startswith("/d/"):
            assert parsed.feed.get("language", "nl") == "nl" or parsed.feed.get("lang") == "nl"
        # conditional GET
        again = await live.client.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        assert r.headers["last-modified"]
    entry = feedparser.parse((await live.client.get("/d/park/feed.atom")).content).entries[2]
    assert "<br" in entry.content[0].value  # the HTML survives, escaped in the XML
    assert feedparser.parse((await live.client.get("/d/park/feed.rss")).content).feed.title == (
        "Park & <plein>"
    )
    # the moderation log's feed too
    modlog = feedparser.parse((await live.client.get("/modlog.rss")).content)
    assert not modlog.bozo


async def test_reply_from_your_server_never_redirects_to_a_third_site(
    live: Live, remote: RemoteServer
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    remote.actor("jan")
    host = remote.base_url.removeprefix("http://")
    phishing = "https://phishing.example/login?next={uri}"
    remote.templates["http://ostatus.org/schema/1.0/subscribe"] = phishing
    r = await live.client.get(
        "/d/park/interact", params={"handle": f"@jan@{host}"}, headers=BROWSER
    )
    assert r.status_code == 200  # no 303 to the attacker's site
    assert "location" not in r.headers
    assert "https://phishing.example/login" in r.text  # shown, so the visitor can judge
    assert "andere website" in r.text
    # the handle's own server is still a plain redirect
    remote.templates["http://ostatus.org/schema/1.0/subscribe"] = (
        f"{remote.base_url}/authorize_interaction?uri={{uri}}"
    )
    r = await live.client.get("/d/park/interact", params={"handle": f"@jan@{host}"})
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"{remote.base_url}/authorize_interaction")


async def test_spoofing_characters_in_remote_names_are_dropped_and_isolated(
    live: Live, remote: RemoteServer
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    mallory = remote.actor("mallory")
    document = mallory.document

    def spoofed() -> dict[str, object]:
        # "Gemeente" then a right-to-left override, zero-width spaces and a joiner
        return {**document(), "name": "Gem\u200beente\u202e nigol\u200d\u2066 👩\u200d💻"}

    mallory.document = spoofed  # type: ignore[method-assign]
    note = mallory.note("hallo", in_reply_to=f"{group}/m/0")
    assert (
        await mallory.post(live.client, f"{group}/inbox", mallory.create(note))
    ).status_code == 202
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "<bdi>Gemeente nigol 👩\u200d💻</bdi>" in page
    for char in ("\u202e", "\u200b", "\u2066"):
        assert char not in page


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


async def test_remote_avatars_come_through_our_media_proxy(
    live: Live, remote: RemoteServer
) -> None:
    """No reader's browser talks to another server (security issue #11, item 16)."""
    import re

    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    remote.custom["/x/alice.png"] = (200, {"content-type": "image/png"}, PNG)
    remote.custom["/x/evil.svg"] = (200, {"content-type": "image/svg+xml"}, b"<svg/>")
    alice, eve = remote.actor("alice"), remote.actor("eve", key_index=1)
    for actor, icon in ((alice, "/x/alice.png"), (eve, "/x/evil.svg")):
        document = actor.document

        def with_icon(document=document, icon=icon):  # type: ignore[no-untyped-def]
            return {**document(), "icon": {"type": "Image", "url": f"{remote.base_url}{icon}"}}

        actor.document = with_icon  # type: ignore[method-assign]
        note = actor.note(f"van {actor.name}", in_reply_to=f"{group}/m/0")
        assert (
            await actor.post(live.client, f"{group}/inbox", actor.create(note))
        ).status_code == 202
    r = await live.client.get("/d/park", headers=BROWSER)
    assert "img-src 'self';" in r.headers["content-security-policy"]
    sources = re.findall(r'<img src="([^"]+)"', r.text)
    assert sources
    assert not [s for s in sources if s.startswith(remote.base_url)]
    proxied = [s.replace("&amp;", "&") for s in sources if "/media/" in s]
    assert len(proxied) == 2
    image = await live.client.get(proxied[0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == PNG
    assert "sandbox" in image.headers.get_list("content-security-policy")[0]
    fetched = remote.fetches.count(f"{remote.base_url}/x/alice.png")
    assert (await live.client.get(proxied[0])).status_code == 200
    assert remote.fetches.count(f"{remote.base_url}/x/alice.png") == fetched  # cached
    # SVG is refused (it can carry script): our neutral avatar instead, briefly cached;
    # a URL we did not sign is refused without any fetch
    svg = await live.client.get(proxied[1])
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/png"
    assert svg.content != b"<svg/>"
    assert svg.headers["cache-control"] == "public, max-age=600"
    forged = proxied[0].replace("alice.png", "evil.svg")
    assert (await live.client.get(forged)).status_code == 404
    loopback = f"/media/{'0' * 32}?url=http%3A%2F%2F127.0.0.1%2Fadmin"
    assert (await live.client.get(loopback)).status_code == 404
    # redirects are followed (each hop checked), at most three
    proxy = live.services.media
    remote.custom["/x/hop1"] = (301, {"Location": "/x/hop2"}, b"")
    remote.custom["/x/hop2"] = (308, {"Location": "/x/alice.png"}, b"")
    hops = await live.client.get(proxy.url_for(f"{remote.base_url}/x/hop1"))
    assert hops.content == PNG
    remote.custom["/x/meta"] = (302, {"Location": "http://169.254.169.254/latest"}, b"")
    remote.custom["/x/far"] = (302, {"Location": "/x/hop0"}, b"")
    remote.custom["/x/hop0"] = (303, {"Location": "/x/hop1"}, b"")
    remote.custom["/x/bare"] = (302, {}, b"")
    for path in ("/x/meta", "/x/far", "/x/bare"):  # metadata address; 4 hops; no Location
        before = proxy.fetches
        refused = await live.client.get(proxy.url_for(f"{remote.base_url}{path}"))
        assert refused.content != PNG, path
        assert proxy.fetches == before + 1
