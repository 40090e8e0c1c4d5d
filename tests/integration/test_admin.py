"""/admin over real HTTP: login, sessions, CSRF, lockout, roles, and moderation actions
with their federated effect."""

from __future__ import annotations

import asyncio
import io
import re
import time

import httpx
import orjson
import pytest

from fedi_forum.forum.staff import Session
from fedi_forum.models import DiscussionState
from tests.conftest import Live
from tests.integration.test_instances import cli
from tests.support.http import AS2, BROWSER, PASSWORD, csrf_token, login
from tests.support.remote import RemoteServer, remote_server


async def _setup(live: Live, remote: RemoteServer) -> None:
    await live.services.staff.create("beheer", PASSWORD, "admin")
    await live.services.staff.create("moderator", PASSWORD, "moderator")
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    note = alice.note("grof taalgebruik", in_reply_to=f"{group}/m/0")
    await alice.post(live.client, f"{group}/inbox", alice.create(note))


async def test_login_session_cookie_and_logout(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    assert (await live.client.get("/admin", headers=BROWSER)).headers["location"] == "/admin/login"
    r = await login(live.client, "beheer")
    assert r.status_code == 303
    assert r.headers["location"] == "/admin"
    cookie = r.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Path=/admin", "Max-Age=28800"):
        assert flag.lower() in cookie.lower(), flag
    dashboard = await live.client.get("/admin", headers=BROWSER)
    assert dashboard.status_code == 200
    assert "0 open meldingen" in dashboard.text
    replies = await live.client.get("/admin/replies", headers=BROWSER)
    assert "grof taalgebruik" in replies.text
    old = live.client.cookies.get("ff_session", path="/admin")
    assert old is not None
    r = await live.client.post("/admin/logout", data={"csrf": csrf_token(dashboard.text)})
    assert r.status_code == 303
    # the old cookie no longer works anywhere
    live.client.cookies.set("ff_session", old, path="/admin")
    assert (await live.client.get("/admin", headers=BROWSER)).status_code == 303


async def test_csrf_is_required_on_every_form(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    page = await live.client.get("/admin/login", headers=BROWSER)
    r = await live.client.post(
        "/admin/login", data={"csrf": "forged", "username": "beheer", "password": PASSWORD}
    )
    assert r.status_code == 403
    assert (await login(live.client, "beheer")).status_code == 303
    r = await live.client.post("/admin/notes/park/1/hide", data={"reason": "respect"})
    assert r.status_code == 403
    r = await live.client.post(
        "/admin/notes/park/1/hide", data={"reason": "respect", "csrf": "nope"}
    )
    assert r.status_code == 403
    assert "grof taalgebruik" in (await live.client.get("/d/park", headers=BROWSER)).text
    assert csrf_token(page.text)

    # every form-handling route under /admin, as the app declares them: without the
    # token (or with a wrong one) each answers 403 and changes nothing
    from starlette.routing import Route

    from fedi_forum.web import routes
    from fedi_forum.web.convertors import CONVERTORS

    def example(path: str) -> str:
        def value(match: re.Match[str]) -> str:
            name, _, kind = match.group(1).partition(":")
            if kind in ("", "str") or name == "host":
                return {"slug": "park", "host": "example.org"}.get(name, "x")
            if kind == "id":
                return "1"
            regex = CONVERTORS[kind].regex  # a closed set: its first choice
            return regex.split("|")[0]

        return re.sub(r"\{([^}]+)\}", value, path)

    posts = [
        example(r.path)
        for r in routes()
        if isinstance(r, Route)
        and r.path.startswith("/admin")
        and "POST" in (r.methods or ())
        and r.path != "/admin/login"
    ]
    assert len(posts) >= 13, posts
    before = await live.store.db.fetch_all("SELECT state FROM notes ORDER BY id")
    for path in posts:
        for data in ({}, {"csrf": "forged"}):
            r = await live.client.post(path, data=data | {"reason": "respect"})
            assert r.status_code == 403, (path, data, r.status_code)
    assert await live.store.db.fetch_all("SELECT state FROM notes ORDER BY id") == before
    assert (await live.store.discussion("park")) is not None


async def test_hide_from_admin_and_delete_federates(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    await login(live.client, "moderator")
    token = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    r = await live.client.post(
        "/admin/notes/park/1/hide", data={"reason": "respect", "csrf": token}
    )
    assert r.status_code == 303
    assert "grof taalgebruik" not in (await live.client.get("/d/park", headers=BROWSER)).text
    # removing asks first, saying what happens and to whom; Cancel goes back
    ask = await live.client.post(
        "/admin/notes/park/1/delete",
        headers=BROWSER,
        data={"reason": "respect", "csrf": token, "back": "replies"},
    )
    assert ask.status_code == 200
    assert "Bericht #1 van “park” verwijderen?" in ask.text
    assert "De servers van de volgers van de discussie horen dat het is verwijderd" in ask.text
    assert 'href="/admin/replies">Annuleren</a>' in ask.text
    assert (await live.store.note((await live.store.discussion("park")).id, 1)).state == "hidden"  # type: ignore[union-attr]
    r = await live.client.post(
        "/admin/notes/park/1/delete",
        data={"reason": "respect", "csrf": token, "back": "replies", "confirm": "yes"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/replies"
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    assert remote.delivered[-1][2]["type"] == "Undo"
    assert "respect" in (await live.client.get("/modlog", headers=BROWSER)).text
    # a moderator is not an admin
    r = await live.client.post("/admin/discussions/park/lock", data={"csrf": token})
    assert r.status_code == 403
    assert (await live.client.get("/admin/federation", headers=BROWSER)).status_code == 403


async def test_admin_manages_discussions_blocks_reports(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    instance = remote.actor("instance", type_="Application", key_index=1)
    await instance.post(
        live.client,
        f"{live.base_url}/inbox",
        instance.activity("Flag", [f"{live.base_url}/d/park/m/0"], content="klacht"),
    )
    await login(live.client, "beheer")
    assert "1 open melding" in (await live.client.get("/admin", headers=BROWSER)).text
    page = (await live.client.get("/admin/reports", headers=BROWSER)).text
    token = csrf_token(page)
    assert "klacht" in page
    assert "gemeld door een andere server" in page
    report_id = re.search(r"/admin/reports/(\d+)/resolve", page).group(1)  # type: ignore[union-attr]
    done = await live.client.post(
        f"/admin/reports/{report_id}/resolve", data={"csrf": token, "back": "reports"}
    )
    assert done.headers["location"] == "/admin/reports"
    assert "klacht" not in (await live.client.get("/admin/reports", headers=BROWSER)).text
    await live.client.post("/admin/discussions/park/lock", data={"csrf": token})
    assert (await live.store.discussion("park")).state == "locked"  # type: ignore[union-attr]
    block = {"csrf": token, "kind": "domain", "value": "127.0.0.1", "reason": "spam"}
    ask = await live.client.post("/admin/blocks/add", headers=BROWSER, data=block)
    assert "127.0.0.1 blokkeren?" in ask.text
    assert not await live.store.block_list()  # nothing yet: it asked
    await live.client.post("/admin/blocks/add", data=block | {"confirm": "yes"})
    bob = remote.actor("bob", key_index=2)
    r = await bob.post(
        live.client, f"{live.base_url}/inbox", bob.activity("Follow", f"{live.base_url}/d/park")
    )
    assert r.status_code == 403
    health = await live.client.get("/admin/federation", headers=BROWSER)
    assert health.status_code == 200
    assert "Volgers per discussie" in health.text


async def test_lockout_rate_limit_and_expiry(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    for _ in range(5):
        assert (await login(live.client, "beheer", "wrong password!")).status_code == 401
    # locked: even the right password fails for a while
    assert (await login(live.client, "beheer")).status_code == 401
    assert (await login(live.client, "nobody", "whatever")).status_code == 401
    answers = [await login(live.client, "moderator") for _ in range(4)]
    limited = next(r for r in answers if r.status_code == 429)
    assert int(limited.headers["retry-after"]) > 0
    assert "Te veel pogingen vanaf hier. Probeer het opnieuw na " in limited.text
    assert 'name="password"' in limited.text  # the form again, not an error page
    # an expired or tampered session is no session
    staff = live.services.staff
    expired = staff.token(Session("moderator", "moderator", "x", int(time.time()) - 1, 0))
    tampered = staff.token(Session("moderator", "admin", "x", int(time.time()) + 99, 0))
    tampered = tampered.rsplit(".", 1)[0] + "." + "0" * 64
    for token in (expired, tampered, "garbage", ""):
        async with httpx.AsyncClient(
            base_url=live.base_url, cookies={"ff_session": token}
        ) as other:
            r = await other.get("/admin", headers=BROWSER)
            assert r.status_code == 303, token


async def test_create_user_rules(live: Live) -> None:
    staff = live.services.staff
    with pytest.raises(Exception, match="short password"):
        await staff.create("kort", "short", "admin")
    with pytest.raises(Exception, match="bad role"):
        await staff.create("iemand", PASSWORD, "root")
    await staff.create("Iemand", PASSWORD, "moderator")
    with pytest.raises(Exception, match="user iemand"):
        await staff.create("iemand", PASSWORD, "moderator")
    member = await live.store.staff("iemand")
    assert member is not None
    assert member.password_hash.startswith("scrypt$32768$8$1$")
    assert PASSWORD not in member.password_hash


async def test_admin_creates_edits_and_deletes_discussions(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    await login(live.client, "beheer")
    form = await live.client.get("/admin/discussions/new", headers=BROWSER)
    token = csrf_token(form.text)
    r = await live.client.post(
        "/admin/discussions/new",
        headers=BROWSER,
        data={
            "csrf": token,
            "slug": "fiets",
            "title": "Fietspaden",
            "lang": "nl",
            "body": "Waar ontbreken fietspaden?",
            "summary": "",
        },
    )
    assert r.status_code == 303
    assert r.headers["location"].endswith("/d/fiets")
    dup = await live.client.post(
        "/admin/discussions/new",
        headers=BROWSER,
        data={"csrf": token, "slug": "fiets", "title": "x", "lang": "nl", "body": "y"},
    )
    assert dup.status_code == 200
    assert "already taken" in dup.text
    edit = await live.client.get("/admin/discussions/fiets/edit", headers=BROWSER)
    assert "Waar ontbreken fietspaden?" in edit.text  # the text as typed, to edit
    await live.client.post(
        "/admin/discussions/fiets/edit",
        headers=BROWSER,
        data={
            "csrf": token,
            "title": "Fietspaden in de wijk",
            "body": "Nieuwe vraag.",
            "summary": "Fietsen",
        },
    )
    page = (await live.client.get("/d/fiets", headers=BROWSER)).text
    assert "Fietspaden in de wijk" in page
    assert "Nieuwe vraag." in page
    # the administrator who opened it is the opening post's author, after the edit too
    opening = (await live.client.get("/d/fiets/m/0", headers={"Accept": AS2})).json()
    assert opening["attributedTo"] == f"{live.base_url}/staff/beheer"
    assert opening["name"] == "Fietspaden in de wijk"
    ask = await live.client.post(
        "/admin/discussions/fiets/delete", headers=BROWSER, data={"csrf": token}
    )
    assert "De discussie “Fietspaden in de wijk” verwijderen?" in ask.text
    assert "De servers van de 0 volgers horen dat de discussie is verwijderd." in ask.text
    assert (await live.client.get("/d/fiets", headers=BROWSER)).status_code == 200
    await live.client.post(
        "/admin/discussions/fiets/delete", data={"csrf": token, "confirm": "yes"}
    )
    assert (await live.client.get("/d/fiets", headers=BROWSER)).status_code == 410


async def test_reports_are_forwarded_anonymised(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    await live.client.post(
        "/d/park/m/1/report",
        data={"reason": "respect", "comment": "scheldt", "contact": "melder@example.nl"},
    )
    await login(live.client, "moderator")
    page = (await live.client.get("/admin/reports", headers=BROWSER)).text
    # what was reported, by whom (for the moderators only), in words
    assert "grof taalgebruik" in page
    assert "Niet respectvol" in page
    assert "scheldt" in page
    assert "melder@example.nl" in page
    report_id = re.search(r"/admin/reports/(\d+)/forward", page).group(1)  # type: ignore[union-attr]
    r = await live.client.post(
        f"/admin/reports/{report_id}/forward", data={"csrf": csrf_token(page)}
    )
    assert r.status_code == 303
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    flags = [(signer, d) for signer, _, d in remote.delivered if d["type"] == "Flag"]
    assert len(flags) == 1
    signer, flag = flags[0]
    assert signer == f"{live.base_url}/actor"  # from the instance, not the reporter
    alice = remote.actors["alice"]
    assert flag["object"][0] == alice.id
    assert len(flag["object"]) == 2
    assert "content" not in flag
    assert "melder" not in str(flag)


async def test_staff_reply_is_a_local_actor_and_federates(live: Live, remote: RemoteServer) -> None:
    # The follower's server says it is a group server, before anything is delivered to it
    # (the worker asks once, and keeps the answer an hour).
    remote.software = "lemmy"
    await _setup(live, remote)
    await login(live.client, "moderator")
    await live.discussions.set_state("park", DiscussionState.LOCKED)  # staff may still answer
    form = await live.client.get("/admin/discussions/park/reply", headers=BROWSER)
    r = await live.client.post(
        "/admin/discussions/park/reply",
        headers=BROWSER,
        data={
            "csrf": csrf_token(form.text),
            "text": "Het park krijgt nieuwe bankjes.",
            "in_reply_to": "1",
            "official": "on",
        },
    )
    assert r.status_code == 303
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "Het park krijgt nieuwe bankjes." in page
    assert "Officieel antwoord" in page
    assert f"@moderator@{live.domain}" in page
    assert "reactie op #1" in page
    feed = (await live.client.get("/d/park/feed.rss")).text
    assert "Officieel antwoord" in feed
    # the staff member is a real actor: WebFinger, actor, the note at its id
    finger = await live.client.get(
        "/.well-known/webfinger", params={"resource": f"acct:moderator@{live.domain}"}
    )
    actor_id = finger.json()["links"][0]["href"]
    actor = (
        await live.client.get(actor_id, headers={"Accept": "application/activity+json"})
    ).json()
    assert actor["type"] == "Person"
    assert actor["publicKey"]["id"] == f"{actor_id}#main-key"
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    # lanes deliver in parallel: the staff reply's Announce is not always the last one
    boosted = [d["object"] for _, _, d in remote.delivered if d["type"] == "Announce"]
    create = next(o for o in boosted if isinstance(o, dict) and o.get("actor") == actor_id)
    assert create["type"] == "Create"
    note_id = create["object"]["id"]
    note = (await live.client.get(note_id, headers={"Accept": "application/activity+json"})).json()
    assert note["attributedTo"] == actor_id
    assert note["inReplyTo"].endswith("/statuses/2")
    # other servers see it is the official answer, and alice is mentioned (notified)
    alice_id = remote.actors["alice"].id
    assert note["content"].startswith("<p><strong>Officieel antwoord</strong></p><p><span")
    assert {
        "type": "Mention",
        "href": alice_id,
        "name": f"@alice@{remote.base_url.split('//')[1]}",
    } in note["tag"]
    assert alice_id in note["cc"]
    assert "@<span>alice</span>" not in page  # our page has its badge and "reactie op #1"
    html = await live.client.get(note_id, headers=BROWSER)
    assert html.status_code == 302
    assert html.headers["location"].endswith("#m2")
    # names are one namespace: a discussion cannot take a staff name, nor the reverse
    with pytest.raises(Exception, match="taken"):
        await live.discussions.create(slug="moderator", title="x", body="y", lang="nl")
    with pytest.raises(Exception, match="discussion"):
        await live.services.staff.create("park", PASSWORD, "moderator")


async def test_blocklist_import_preview_and_dialect_override(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    await login(live.client, "beheer")
    form = await live.client.get("/admin/blocks/import", headers=BROWSER)
    token = csrf_token(form.text)
    csv = "#domain,#severity\nspam.example,suspend\nquiet.example,silence\n"
    preview = await live.client.post(
        "/admin/blocks/import", headers=BROWSER, data={"csrf": token, "csv_text": csv}
    )
    assert "Nieuwe blokkades: 1" in preview.text
    assert "spam.example" in preview.text
    assert await live.store.block_list() == []  # a preview changes nothing
    await live.client.post(
        "/admin/blocks/import",
        data={"csrf": token, "csv_text": csv, "apply": "yes", "reason": "spam"},
    )
    assert [b["value"] for b in await live.store.block_list()] == ["spam.example"]
    host = remote.base_url.removeprefix("http://")
    await live.client.post(
        f"/admin/instances/{host}/dialect", data={"csrf": token, "dialect": "group"}
    )
    info = await live.store.instance(host)
    assert info is not None
    assert info.dialect_override == "group"


async def test_set_aside_deliveries_are_shown_and_sent_again_from_admin(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    assert live.services.delivery is not None
    await live.services.delivery.drain()

    def set_aside(conn):  # type: ignore[no-untyped-def]
        conn.execute("UPDATE deliveries SET state = 'aside', timeouts = 3 WHERE id = 2")

    await live.store.db.write(set_aside)
    await login(live.client, "beheer")
    page = await live.client.get("/admin/federation", headers=BROWSER)
    assert "Apart gezet" in page.text
    assert "/d/park/m/1/announce" in page.text
    token = csrf_token(page.text)
    bad = await live.client.post("/admin/deliveries/retry", data={"csrf": token, "id": "x"})
    assert bad.status_code == 400
    r = await live.client.post("/admin/deliveries/retry", data={"csrf": token, "id": "2"})
    assert r.status_code == 303
    state = await live.store.db.fetch_one("SELECT state, timeouts FROM deliveries WHERE id = 2")
    assert tuple(state) in (("pending", 0), ("delivered", 0))
    page = await live.client.get("/admin/federation", headers=BROWSER)
    assert "Niets apart gezet." in page.text


async def test_every_discussion_switch_from_admin(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    await login(live.client, "beheer")
    token = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    expected = {
        "close": ("closed", True, False),
        "unlock": ("open", True, False),
        "announce-off": ("open", False, False),
        "premoderate-on": ("open", False, True),
        "premoderate-off": ("open", False, False),
        "announce-on": ("open", True, False),
    }
    for action, (state, announces, held) in expected.items():
        r = await live.client.post(f"/admin/discussions/park/{action}", data={"csrf": token})
        assert r.status_code == 303, action
        d = await live.store.discussion("park")
        assert d is not None
        assert (d.state, d.announce_replies, d.premoderate) == (state, announces, held), action
    await live.client.post("/d/park/m/1/report", data={"reason": "spam"})
    page = (await live.client.get("/admin/reports", headers=BROWSER)).text
    report_id = re.search(r"/admin/reports/(\d+)/dismiss", page).group(1)  # type: ignore[union-attr]
    await live.client.post(f"/admin/reports/{report_id}/dismiss", data={"csrf": token})
    assert (await live.store.reports())[0]["state"] == "dismissed"


async def test_a_staff_answer_reaches_the_person_answered_who_does_not_follow(
    live: Live, remote: RemoteServer
) -> None:
    """bob replied without following: the answer mentions him and the group's Announce
    is delivered to his server, addressed to him (so Mastodon accepts and notifies)."""
    await _setup(live, remote)
    group = f"{live.base_url}/d/park"
    async with remote_server() as other:
        bob = other.actor("bob", key_index=1)
        note = bob.note("Komen er ook prullenbakken?", in_reply_to=f"{group}/m/0", mention=group)
        assert (await bob.post(live.client, f"{group}/inbox", bob.create(note))).status_code == 202
        seq = await live.discussions.staff_reply(
            "park", username="moderator", text="Ja, drie.", in_reply_to_seq=2
        )
        discussion = await live.store.discussion("park")
        assert discussion is not None
        staff_note = await live.store.note_raw(discussion.id, seq)
        assert staff_note is not None
        doc = orjson.loads(staff_note)

        def answered(d: dict[str, object]) -> bool:
            obj = d.get("object")
            shared = obj.get("object", {}) if isinstance(obj, dict) else obj
            shared_id = shared.get("id") if isinstance(shared, dict) else shared
            return d["type"] == "Announce" and shared_id == doc["id"]

        async with asyncio.timeout(20):
            while not any(answered(d) for _, _, d in other.delivered):
                await asyncio.sleep(0.05)
        announce = next(d for _, _, d in other.delivered if answered(d))
        assert bob.id in announce["cc"]  # addressed to him: Mastodon takes it
        bob_handle = f"@bob@{other.base_url.split('//')[1]}"
        assert {"type": "Mention", "href": bob.id, "name": bob_handle} in doc["tag"]
        assert doc["content"].startswith('<p><span class="h-card" translate="no"><a href="')
        assert "Officieel" not in doc["content"]  # not official: no label


async def test_operators_manage_staff_accounts_from_the_command_line(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    listed = await cli(live, "admin", "list")
    assert listed.stdout.splitlines() == [
        "beheer\tadmin\tactive\t-",
        "moderator\tmoderator\tactive\t-",
    ]
    assert (await login(live.client, "moderator")).status_code == 303
    assert (await live.client.get("/admin", headers=BROWSER)).status_code == 200
    # disabled: the open session ends and the password no longer works
    assert (await cli(live, "admin", "disable", "moderator")).returncode == 0
    assert (await live.client.get("/admin", headers=BROWSER)).status_code == 303
    assert (await login(live.client, "moderator")).status_code == 401
    assert "moderator\tmoderator\tdisabled" in (await cli(live, "admin", "list")).stdout
    assert (await cli(live, "admin", "enable", "moderator")).returncode == 0
    assert (await login(live.client, "moderator")).status_code == 303
    # a reset password: the old one fails, sessions end, the new one works
    new = "a brand new passphrase"
    assert (
        await cli(live, "admin", "reset-password", "moderator", "--password", new)
    ).returncode == 0
    assert (await live.client.get("/admin", headers=BROWSER)).status_code == 303
    assert (await login(live.client, "moderator")).status_code == 401
    assert (await login(live.client, "moderator", new)).status_code == 303
    # the name shown on pages and on Mastodon
    assert (await cli(live, "admin", "set-name", "moderator", "Fatima (gemeente)")).returncode == 0
    await live.discussions.staff_reply("park", username="moderator", text="Dank je.")
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "<bdi>Fatima (gemeente)</bdi>" in page
    actor = await live.client.get(
        f"{live.base_url}/staff/moderator", headers={"Accept": "application/activity+json"}
    )
    assert actor.json()["name"] == "Fatima (gemeente)"
    # removed: no login, no actor; unknown names are refused in words
    assert (await cli(live, "admin", "remove", "moderator")).returncode == 0
    assert (await login(live.client, "moderator", new)).status_code == 401
    gone = await live.client.get(
        f"{live.base_url}/staff/moderator", headers={"Accept": "application/activity+json"}
    )
    assert gone.status_code == 404
    missing = await cli(live, "admin", "disable", "nobody")
    assert missing.returncode == 2
    assert "not found" in missing.stderr


async def test_staff_change_their_own_name_and_password(live: Live, remote: RemoteServer) -> None:
    await _setup(live, remote)
    await login(live.client, "moderator")
    page = await live.client.get("/admin/account", headers=BROWSER)
    assert page.status_code == 200
    token = csrf_token(page.text)
    named = await live.client.post(
        "/admin/account",
        headers=BROWSER,
        data={"csrf": token, "change": "name", "display_name": "  Fatima   de Vries "},
    )
    assert "Opgeslagen." in named.text
    assert 'value="Fatima de Vries"' in named.text
    wrong = await live.client.post(
        "/admin/account",
        headers=BROWSER,
        data={"csrf": token, "change": "password", "current": "not it at all", "new": "x" * 12},
    )
    assert wrong.status_code == 400
    assert "the current password is wrong" in wrong.text
    odd = await live.client.post(
        "/admin/account", headers=BROWSER, data={"csrf": token, "change": "role"}
    )
    assert odd.status_code == 404  # a closed set of changes
    changed = await live.client.post(
        "/admin/account",
        headers=BROWSER,
        data={
            "csrf": token,
            "change": "password",
            "current": PASSWORD,
            "new": "een nieuw wachtwoord",
        },
    )
    assert changed.status_code == 303
    assert (await live.client.get("/admin", headers=BROWSER)).status_code == 303  # logged out
    assert (await login(live.client, "moderator", "een nieuw wachtwoord")).status_code == 303


async def test_administrators_see_who_did_what_and_nobody_else_does(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    await login(live.client, "moderator")
    token = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    await live.client.post(
        "/admin/notes/park/1/hide", data={"reason": "privacy", "csrf": token, "back": "replies"}
    )
    assert (await live.client.get("/admin/audit", headers=BROWSER)).status_code == 403
    assert (await cli(live, "admin", "set-name", "beheer", "Gemeente")).returncode == 0
    await login(live.client, "beheer")
    token = csrf_token((await live.client.get("/admin", headers=BROWSER)).text)
    await live.client.post("/admin/discussions/park/lock", data={"csrf": token})
    audit = (await live.client.get("/admin/audit", headers=BROWSER)).text
    entries = re.findall(r"<bdi>([^<]+)</bdi></p>\s*<p>([^<]+)", audit)
    assert entries[:3] == [
        ("beheer", "discussion lock: "),
        ("command line", "staff set-name: "),
        ("moderator", "note hide: "),
    ]
    assert "(privacy)" in audit
    modlog = (await live.client.get("/modlog", headers=BROWSER)).text
    assert "Verborgen" in modlog
    assert not re.search(r"\bmoderator\b|beheer|Gemeente", modlog)  # never names people


def _photo(size: tuple[int, int], fmt: str, *, gps: bool = False) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, (200, 120, 40))
    out = io.BytesIO()
    if gps:  # where the photo was taken: must not survive the upload
        exif = Image.Exif()
        exif[0x010F] = "Camera maker"
        exif[0x8825] = {1: "N", 2: (52.0, 5.0, 0.0), 3: "E", 4: (4.0, 18.0, 0.0)}
        image.save(out, format=fmt, exif=exif.tobytes())
    else:
        image.save(out, format=fmt)
    return out.getvalue()


async def test_a_discussion_gets_its_own_avatar_and_header(
    live: Live, remote: RemoteServer
) -> None:
    from PIL import Image

    await _setup(live, remote)  # alice follows park
    await login(live.client, "beheer")
    edit = await live.client.get("/admin/discussions/park/edit", headers=BROWSER)
    token = csrf_token(edit.text)

    async def upload(kind: str, data: bytes, name: str = "foto.jpg") -> httpx.Response:
        return await live.client.post(
            "/admin/discussions/park/image",
            headers=BROWSER,
            data={"csrf": token, "kind": kind},
            files={"image": (name, data, "application/octet-stream")},
        )

    assert (await upload("icon", _photo((1200, 900), "JPEG", gps=True))).status_code == 303
    assert (await upload("header", _photo((3000, 1200), "PNG"))).status_code == 303
    group = (await live.client.get("/d/park", headers={"Accept": AS2})).json()
    icon = await live.client.get(group["icon"]["url"])
    assert icon.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(icon.content)) as shown:
        assert shown.format == "PNG"
        assert max(shown.size) == 400
        assert "exif" not in shown.info  # the location is gone
    assert group["image"]["mediaType"] == "image/jpeg"
    with Image.open(io.BytesIO((await live.client.get(group["image"]["url"])).content)) as top:
        assert top.size == (1250, 500)
    # followers' servers are told
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    updates = [d for _, _, d in remote.delivered if d["type"] == "Update"]
    assert updates[-1]["object"]["icon"]["url"] == group["icon"]["url"]
    # what is not an image is refused in words; too large is 413; moderators may not
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    refused = await upload("icon", svg, "logo.png")
    assert refused.status_code == 400
    assert "not a readable image" in refused.text
    assert (await upload("icon", b"x" * (9 * 1024 * 1024))).status_code == 413
    assert (await upload("banner", _photo((10, 10), "PNG"))).status_code == 404
    await login(live.client, "moderator")
    assert (await upload("icon", _photo((10, 10), "PNG"))).status_code == 403


async def test_administrators_disable_and_enable_staff_from_a_page(
    live: Live, remote: RemoteServer
) -> None:
    await _setup(live, remote)
    await login(live.client, "beheer")
    page = await live.client.get("/admin/staff", headers=BROWSER)
    assert "@moderator · moderator" in page.text
    token = csrf_token(page.text)
    ask = await live.client.post(
        "/admin/staff/moderator/disable", headers=BROWSER, data={"csrf": token, "back": "staff"}
    )
    assert "Het account van moderator uitschakelen?" in ask.text
    done = await live.client.post(
        "/admin/staff/moderator/disable",
        data={"csrf": token, "back": "staff", "confirm": "yes"},
    )
    assert done.headers["location"] == "/admin/staff"
    assert (await live.store.staff("moderator")).disabled  # type: ignore[union-attr]
    own = await live.client.post("/admin/staff/beheer/disable", data={"csrf": token})
    assert own.status_code == 403  # never one's own account
    odd = await live.client.post("/admin/staff/moderator/promote", data={"csrf": token})
    assert odd.status_code == 404
    await live.client.post("/admin/staff/moderator/enable", data={"csrf": token})
    assert (await login(live.client, "moderator")).status_code == 303
    assert (await live.client.get("/admin/staff", headers=BROWSER)).status_code == 403


async def test_staff_moderate_any_message_from_the_discussion_page(
    live: Live, remote: RemoteServer
) -> None:
    """A logged-in moderator sees a "moderate" link on each message of the public page,
    leading to that message's card in /admin; nobody else sees it."""
    await _setup(live, remote)
    assert "Modereren" not in (await live.client.get("/d/park", headers=BROWSER)).text
    await login(live.client, "moderator")
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    link = '<a href="/admin/replies?discussion=park&amp;message=1" rel="nofollow">Modereren</a>'
    assert link in page
    card = await live.client.get("/admin/replies?discussion=park&message=1", headers=BROWSER)
    assert 'id="reply-park-1"' in card.text
    assert card.text.count('<li id="reply-') == 1
    async with httpx.AsyncClient(base_url=live.base_url) as stranger:
        assert "Modereren" not in (await stranger.get("/d/park", headers=BROWSER)).text
    token = csrf_token(card.text)
    await live.client.post("/admin/logout", data={"csrf": token})
    assert "Modereren" not in (await live.client.get("/d/park", headers=BROWSER)).text
