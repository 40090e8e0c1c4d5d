"""Reply from your own server: the visitor's server is asked (WebFinger) where its users
interact with a remote post, and the visitor is sent there."""

from __future__ import annotations

from urllib.parse import quote

from tests.conftest import Live
from tests.support.http import BROWSER
from tests.support.remote import RemoteServer


async def test_visitor_is_sent_to_their_servers_interaction_page(
    live: Live, remote: RemoteServer
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    remote.actor("jan")
    host = remote.base_url.removeprefix("http://")
    remote.templates["http://ostatus.org/schema/1.0/subscribe"] = (
        f"{remote.base_url}/authorize_interaction?uri={{uri}}"
    )
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert 'action="/d/park/interact"' in page
    assert 'for="visitor-handle"' in page
    r = await live.client.get(
        "/d/park/interact", params={"handle": f"@jan@{host}"}, headers=BROWSER
    )
    assert r.status_code == 303
    note = quote(f"{live.base_url}/d/park/m/0", safe="")
    assert r.headers["location"] == f"{remote.base_url}/authorize_interaction?uri={note}"
    # FEP-3b86 intents win where offered
    remote.templates["https://w3id.org/fep/3b86/Create"] = (
        f"{remote.base_url}/share?inReplyTo={{inReplyTo}}&text={{content}}"
    )
    r = await live.client.get("/d/park/interact", params={"handle": f"jan@{host}"})
    assert r.headers["location"].startswith(f"{remote.base_url}/share?inReplyTo={note}&text=")
    assert quote(f"@park@{live.domain}", safe="") in r.headers["location"]


async def test_fallbacks_and_bad_input(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    remote.actor("jan")
    host = remote.base_url.removeprefix("http://")
    # a server without templates: clear copy-and-search steps instead
    r = await live.client.get(
        "/d/park/interact", params={"handle": f"@jan@{host}"}, headers=BROWSER
    )
    assert r.status_code == 200
    assert f"{live.base_url}/d/park/m/0" in r.text
    assert "met de hand" in r.text
    # a template pointing at javascript: is never followed
    remote.templates["http://ostatus.org/schema/1.0/subscribe"] = "javascript:alert({uri})"
    r = await live.client.get(
        "/d/park/interact", params={"handle": f"@jan@{host}"}, headers=BROWSER
    )
    assert r.status_code == 200  # not a redirect, not a link to follow: the manual steps
    assert "location" not in r.headers
    assert "javascript:" not in r.text
    assert "met de hand" in r.text
    bad = await live.client.get(
        "/d/park/interact", params={"handle": "not a handle"}, headers=BROWSER
    )
    assert bad.status_code == 400
    assert "@naam@server" in bad.text
    ssrf = await live.client.get("/d/park/interact", params={"handle": "@x@169.254.169.254"})
    assert ssrf.status_code == 200  # refused by the guard, shown the manual steps
    assert (await live.client.get("/d/park/interact?seq=99")).status_code == 404


async def test_our_webfinger_offers_an_interaction_template(live: Live) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    doc = (
        await live.client.get(
            "/.well-known/webfinger", params={"resource": f"acct:park@{live.domain}"}
        )
    ).json()
    template = next(
        link["template"]
        for link in doc["links"]
        if link["rel"] == "http://ostatus.org/schema/1.0/subscribe"
    )
    assert template == f"{live.base_url}/authorize_interaction?uri={{uri}}"
    ours = template.replace("{uri}", quote(f"{live.base_url}/d/park/m/0", safe=""))
    r = await live.client.get(ours.removeprefix(live.base_url))
    assert r.status_code == 303
    assert r.headers["location"] == f"{live.base_url}/d/park/m/0"
    other = await live.client.get(
        "/authorize_interaction", params={"uri": "https://elsewhere.example/x"}, headers=BROWSER
    )
    assert other.status_code == 404
    assert "geen persoonlijke accounts" in other.text
