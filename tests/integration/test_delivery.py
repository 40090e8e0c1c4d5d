"""Delivery over real HTTP: our worker signs and sends; follower servers on 127.0.0.1
verify the signatures with their own code (tests/support/follower.py)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import orjson
import pytest

from fedi_forum.federation import hosts
from fedi_forum.models import utcnow
from tests.conftest import Live
from tests.support.delivery import drain, fast_retries  # noqa: F401 (fast_retries: autouse)
from tests.support.http import AS2
from tests.support.remote import RemoteServer, remote_server


@pytest.fixture
async def servers() -> AsyncIterator[list[RemoteServer]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(remote_server()) for _ in range(3)]


async def _discussion(live: Live) -> str:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    return f"{live.base_url}/d/park"


async def test_follow_gets_a_signed_verifiable_accept(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    follow = alice.activity("Follow", group)
    assert (await alice.post(live.client, f"{group}/inbox", follow)).status_code == 202
    await drain(live)
    assert remote.rejected == []
    ((signer, path, accept),) = remote.delivered
    assert signer == group
    assert path == "/users/alice/inbox"
    assert accept["type"] == "Accept"
    assert accept["object"] == {k: v for k, v in follow.items() if k != "@context"}


async def test_reply_is_announced_in_each_servers_dialect(
    live: Live, servers: list[RemoteServer]
) -> None:
    group = await _discussion(live)
    masto, lemmy, author_home = servers
    lemmy.software = "lemmy"
    followers = [masto.actor("m1"), masto.actor("m2", key_index=1), lemmy.actor("l1")]
    for f in followers:
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await drain(live)
    author = author_home.actor("writer", key_index=2)
    create = author.create(author.note("Een reactie", in_reply_to=f"{group}/m/0"))
    assert (await author.post(live.client, f"{group}/inbox", create)).status_code == 202
    await drain(live)
    for server in servers:
        assert server.rejected == []
    announces = {
        s.base_url: [d for _, p, d in s.delivered if d["type"] == "Announce"] for s in servers
    }
    # one POST per server (shared inbox), even with two followers on masto
    assert [len(a) for a in announces.values()] == [1, 1, 1]
    assert announces[masto.base_url][0]["object"] == create["object"]["id"]
    assert announces[author_home.base_url][0]["object"] == create["object"]["id"]
    group_form = announces[lemmy.base_url][0]["object"]
    assert group_form["type"] == "Create"
    assert group_form["id"] == create["id"]
    assert group_form["object"]["content"] == create["object"]["content"]  # verbatim
    # dialect is cached per server
    info = await live.store.instance(lemmy.base_url.removeprefix("http://"))
    assert info is not None
    assert info.software == "lemmy"
    assert info.dialect == "group"


async def test_dead_and_failing_servers_do_not_slow_healthy_ones(
    live: Live, servers: list[RemoteServer]
) -> None:
    group = await _discussion(live)
    healthy, failing, slow = servers
    failing.inbox_status = 500
    slow.inbox_delay = 3.0
    for i, server in enumerate(servers):
        f = server.actor(f"f{i}", key_index=i)
        server_status, failing.inbox_status = failing.inbox_status, 202
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
        failing.inbox_status = server_status
    author = healthy.actor("writer")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await author.post(
        live.client, f"{group}/inbox", author.create(author.note("x", in_reply_to=f"{group}/m/0"))
    )
    while not any(d["type"] == "Announce" for _, _, d in healthy.delivered):
        await asyncio.sleep(0.02)
        assert loop.time() - started < 2.0, "the healthy server waited for the others"
    await asyncio.sleep(2.5)  # retries are scheduled at second resolution, polled each second
    rows = await live.store.db.fetch_all(
        "SELECT host, attempts, state FROM deliveries WHERE activity_id LIKE '%announce'"
    )
    by_host = {r[0]: (r[1], r[2]) for r in rows}
    assert by_host[failing.base_url.removeprefix("http://")][1] == "pending"  # retrying
    assert by_host[failing.base_url.removeprefix("http://")][0] >= 2


async def test_a_server_hung_on_one_activity_gets_everything_else_and_it_is_set_aside(
    live: Live, servers: list[RemoteServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forum server that never answers one activity (here: the Announce{Delete} of its
    own member's reply) still gets every other activity within seconds; after
    POISON_TIMEOUTS unanswered attempts, while it answered the rest, the activity is set
    aside, listed by `fedi-forum deliveries`, and sent again by hand."""
    monkeypatch.setattr(hosts, "NORMAL_TIMEOUT", 4.0)  # the first attempt hangs 4 s
    monkeypatch.setattr(hosts, "SHORT_TIMEOUT", 1.0)
    group = await _discussion(live)
    forum, home = servers[0], servers[1]
    forum.software = "lemmy"
    follower = forum.actor("f")
    await follower.post(live.client, f"{group}/inbox", follower.activity("Follow", group))
    author = home.actor("writer", key_index=1)
    first = author.note("eerst", in_reply_to=f"{group}/m/0")
    await author.post(live.client, f"{group}/inbox", author.create(first))
    await drain(live)
    forum.hang_on.add("/m/1/delete/")  # the group's Announce of the author's Delete
    await author.post(
        live.client,
        f"{group}/inbox",
        author.activity("Delete", {"id": first["id"], "type": "Tombstone"}),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    later = [author.note(f"n{i}", in_reply_to=f"{group}/m/0") for i in range(5)]
    for note in later:
        await author.post(live.client, f"{group}/inbox", author.create(note))

    def announced() -> set[str]:
        return {
            d["object"]["object"]["id"]
            for _, _, d in forum.delivered
            if d["type"] == "Announce" and d["object"].get("type") == "Create"
        }

    async with asyncio.timeout(10):
        while not {n["id"] for n in later} <= announced():
            await asyncio.sleep(0.05)
    # all of it while the Delete's first attempt still hangs
    assert loop.time() - started < 3.0, "the hung activity held back the rest"
    monkeypatch.setattr(hosts, "NORMAL_TIMEOUT", 1.0)  # the retries: quicker

    # keep the server busy answering (as a real server is) until the Delete is set aside
    async with asyncio.timeout(30):
        i = 0
        while True:
            row = await live.store.db.fetch_one(
                "SELECT id, state, timeouts FROM deliveries WHERE activity_id LIKE '%/delete/%'"
            )
            if row["state"] == "aside":
                break
            i += 1
            note = author.note(f"busy{i}", in_reply_to=f"{group}/m/0")
            await author.post(live.client, f"{group}/inbox", author.create(note))
            await asyncio.sleep(0.3)
    assert row["timeouts"] == hosts.POISON_TIMEOUTS
    await drain(live)  # set aside: no longer due, nothing waits for it

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "fedi_forum",
                "deliveries",
                *args,
                *live.cli_options,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = cli()
    assert listed.returncode == 0, listed.stderr
    assert "set aside" in listed.stdout
    assert "/m/1/delete/" in listed.stdout
    forum.hang_on.clear()  # the server is fixed
    again = cli("--retry", str(row["id"]))
    assert again.returncode == 0, again
    assert "queued again: 1" in again.stdout
    async with asyncio.timeout(10):
        while not any(
            d["type"] == "Announce" and d["object"].get("type") == "Delete"
            for _, _, d in forum.delivered
        ):
            live.services.delivery.wake()  # type: ignore[union-attr]
            await asyncio.sleep(0.1)
    assert cli("--retry", "999999").returncode == 1  # nothing of that id to send again


async def test_retry_after_is_honoured_and_500_then_ok_is_delivered(
    live: Live, remote: RemoteServer
) -> None:
    group = await _discussion(live)
    alice = remote.actor("alice")
    remote.inbox_queue = [(429, {"Retry-After": "3"})]
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    await asyncio.sleep(0.5)
    row = await live.store.db.fetch_one(
        "SELECT attempts, next_attempt_at, last_status FROM deliveries"
    )
    assert row[0] == 1
    assert row[2] == 429
    assert row[1] >= utcnow()  # not before the server asked
    assert remote.delivered == []
    async with asyncio.timeout(10):
        while not remote.delivered:
            await asyncio.sleep(0.1)
    assert len(remote.delivered) == 1
    # 500, 503, network errors: retried with backoff until it works
    remote.inbox_queue = [(500, {}), (503, {})]
    await alice.post(
        live.client, f"{group}/inbox", alice.create(alice.note("y", in_reply_to=f"{group}/m/0"))
    )
    async with asyncio.timeout(15):  # two backoffs, polled each second
        while len(remote.delivered) < 2:
            await asyncio.sleep(0.1)
    assert [d["type"] for _, _, d in remote.delivered] == ["Accept", "Announce"]


async def test_gone_removes_the_follower_and_4xx_gives_up(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    alice, bob = remote.actor("alice"), remote.actor("bob", key_index=1)
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    await drain(live)
    remote.inbox_status = 410
    await bob.post(
        live.client, f"{group}/inbox", bob.create(bob.note("z", in_reply_to=f"{group}/m/0"))
    )
    await drain(live)
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0
    remote.inbox_status = 403
    carol = remote.actor("carol", key_index=2)
    await carol.post(live.client, f"{group}/inbox", carol.activity("Follow", group))
    await drain(live)
    row = await live.store.db.fetch_one(
        "SELECT state, attempts FROM deliveries WHERE inbox LIKE '%carol%'"
    )
    assert tuple(row) == ("dead", 1)


async def test_what_concerns_one_note_reaches_each_inbox_in_order(
    live: Live, servers: list[RemoteServer]
) -> None:
    """Create → Update → Delete of one note are one lane: a slow inbox gets them in the
    order made even when they are queued together (docs/delivery.md)."""
    group = await _discussion(live)
    lemmy, home = servers[0], servers[1]
    lemmy.software = "lemmy"  # gets Announce{Create/Update/Delete}: all three kinds
    follower = lemmy.actor("f")
    await follower.post(live.client, f"{group}/inbox", follower.activity("Follow", group))
    await drain(live)
    lemmy.inbox_delay = 0.2
    author = home.actor("writer", key_index=1)
    notes = [author.note(f"n{i}", in_reply_to=f"{group}/m/0") for i in range(3)]
    for note in notes:  # queued at once, no drain in between
        await author.post(live.client, f"{group}/inbox", author.create(note))
        edit = dict(note, content="<p>daarna</p>", updated="2026-11-28T12:00:00Z")
        await author.post(live.client, f"{group}/inbox", author.activity("Update", edit))
        gone = author.activity("Delete", {"id": note["id"], "type": "Tombstone"})
        await author.post(live.client, f"{group}/inbox", gone)
    await drain(live)
    for note in notes:
        about = [
            d["object"]["type"]
            for _, _, d in lemmy.delivered
            if d["type"] == "Announce"
            and isinstance(d["object"], dict)
            and note["id"] in (d["object"]["object"], (d["object"]["object"] or {}).get("id"))
        ]
        assert about == ["Create", "Update", "Delete"], about


async def test_stopping_mid_fanout_loses_nothing(live: Live, servers: list[RemoteServer]) -> None:
    """The app is stopped while deliveries are in flight; a new app on the same data
    directory (and keys) delivers the rest."""
    from fedi_forum.app import create_app
    from tests.support.live import live_server

    group = await _discussion(live)
    slow = servers[0]
    slow.inbox_delay = 0.3
    f = slow.actor("f")
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    notes = [f.note(f"n{i}", in_reply_to=f"{group}/m/0") for i in range(6)]
    for note in notes:
        await f.post(live.client, f"{group}/inbox", f.create(note))
    assert live.services.delivery is not None
    await live.services.delivery.stop(grace=0.1)  # as good as a crash for its lane
    received = len(slow.delivered)
    assert received < 7
    settings = live.settings
    import dataclasses

    def make(_base_url: str):  # type: ignore[no-untyped-def]
        return create_app(dataclasses.replace(settings, delivery_lease_seconds=5))

    # same data and keys; the base URL differs only by port, which the queue ignores
    async with live_server(make) as (_, app):
        async with asyncio.timeout(30):
            while len({d["id"] for _, _, d in slow.delivered}) < 7:
                await asyncio.sleep(0.1)
            await app.state.services.delivery.drain()
    # at least once: a POST cut short by the stop may arrive twice (same activity id,
    # which receivers dedupe); nothing is missing
    unique = {d["id"]: d["type"] for _, _, d in slow.delivered}
    assert sorted(unique.values()) == ["Accept"] + ["Announce"] * 6
    announced = {d["object"] for _, _, d in slow.delivered if d["type"] == "Announce"}
    assert announced == {n["id"] for n in notes}


async def test_edits_and_deletions_follow_the_announce(
    live: Live, servers: list[RemoteServer]
) -> None:
    group = await _discussion(live)
    masto, lemmy, home = servers  # home: the author's own server, with a follower too
    lemmy.software = "lemmy"
    for server in (masto, lemmy, home):
        f = server.actor("f")
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    author = home.actor("writer", key_index=1)
    note = author.note("eerst", in_reply_to=f"{group}/m/0")
    await author.post(live.client, f"{group}/inbox", author.create(note))
    await drain(live)
    edit = author.activity(
        "Update", dict(note, content="<p>daarna</p>", updated="2026-11-28T12:00:00Z")
    )
    await author.post(live.client, f"{group}/inbox", edit)
    await drain(live)
    delete = author.activity("Delete", {"id": note["id"], "type": "Tombstone"})
    await author.post(live.client, f"{group}/inbox", delete)
    await drain(live)
    lemmy_got = [
        (d["type"], d["object"]["type"])
        for _, _, d in lemmy.delivered
        if isinstance(d["object"], dict)
    ]
    assert ("Announce", "Update") in lemmy_got
    assert ("Announce", "Delete") in lemmy_got
    masto_got = [d["type"] for _, _, d in masto.delivered]
    # Mastodon: the boost, then (no edit: it refetches) the Undo of the boost
    assert masto_got.count("Announce") == 1
    assert masto_got[-1] == "Undo"
    undo = masto.delivered[-1][2]
    assert undo["object"]["id"].endswith("/m/1/announce")
    # the author's own server got the boost, but never its author's edit or deletion
    # relayed back (it has them; Mastodon drops the boosts of a deleted status itself)
    assert [d["type"] for _, _, d in home.delivered if d["type"] != "Accept"] == ["Announce"]


async def test_announce_switch_and_removing_a_discussion(live: Live, remote: RemoteServer) -> None:
    from fedi_forum.models import DiscussionState

    group = await _discussion(live)
    f = remote.actor("f")
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await live.discussions.set_announce_replies("park", False)
    actor = await live.client.get("/d/park", headers={"Accept": "application/activity+json"})
    assert "eigen berichten" in actor.json()["summary"]
    await f.post(
        live.client, f"{group}/inbox", f.create(f.note("stil", in_reply_to=f"{group}/m/0"))
    )
    await drain(live)
    assert [d["type"] for _, _, d in remote.delivered] == ["Accept"]  # not shared
    await live.discussions.set_state("park", DiscussionState.DELETED)
    await drain(live)
    farewell = remote.delivered[-1][2]
    assert farewell["type"] == "Delete"
    assert farewell["object"] == group
    assert remote.delivered[-1][0] == group  # signed by the group itself


async def test_editing_a_discussion_sends_updates(live: Live, remote: RemoteServer) -> None:
    group = await _discussion(live)
    f = remote.actor("f")
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await live.discussions.edit(
        "park", title="Het nieuwe park", body="Nieuwe tekst.", summary="Over het park"
    )
    await drain(live)
    updates = [d for _, _, d in remote.delivered if d["type"] == "Update"]
    note = next(u["object"] for u in updates if u["object"]["type"] == "Article")
    actor = next(u["object"] for u in updates if u["object"]["type"] == "Group")
    assert note["id"] == f"{group}/m/0"
    assert "updated" in note
    assert note["name"] == "Het nieuwe park"
    assert note["content"] == "<p>Nieuwe tekst.</p>"  # the title once: as its name
    assert note["summary"] == "Nieuwe tekst."
    assert note["source"]["content"] == "Nieuwe tekst."
    assert actor["name"] == "Het nieuwe park"
    assert "Over het park" in actor["summary"]
    assert remote.rejected == []
    served = (await live.client.get("/d/park/m/0", headers={"Accept": AS2})).json()
    assert served["updated"] == note["updated"]
    outbox = (await live.client.get("/d/park/outbox?page=true", headers={"Accept": AS2})).json()
    create = next(a for a in outbox["orderedItems"] if a["type"] == "Create")
    assert create["object"] == {k: v for k, v in served.items() if k != "@context"}
    page = (await live.client.get("/d/park", headers={"Accept": "text/html"})).text
    assert "<h1>Het nieuwe park</h1>" in page
    # only the title: the text stays
    await live.discussions.edit("park", title="Park 3")
    served = (await live.client.get("/d/park/m/0", headers={"Accept": AS2})).json()
    assert "Nieuwe tekst." in served["content"]
    assert served["name"] == "Park 3"


async def test_double_knock_rfc9421_then_cavage_and_remember(
    live: Live, servers: list[RemoteServer]
) -> None:
    group = await _discussion(live)
    modern, claims_but_refuses, older = servers
    modern.software_version = claims_but_refuses.software_version = "4.5.1"
    claims_but_refuses.accept_rfc9421 = False  # NodeInfo says 4.5, it only takes cavage
    for server in servers:  # older: Mastodon 4.3, never offered RFC 9421
        f = server.actor("f")
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await drain(live)
    for server in servers:
        assert server.rejected == []
        assert [d["type"] for _, _, d in server.delivered] == ["Accept"]
    assert "signature-input" in modern.received[-1][1]  # verified by another library
    assert [("signature-input" in h) for _, h, _ in claims_but_refuses.received] == [True, False]
    assert [("signature-input" in h) for _, h, _ in older.received] == [False]
    for server, spec in ((modern, "rfc9421"), (claims_but_refuses, "cavage"), (older, "cavage")):
        info = await live.store.instance(server.base_url.removeprefix("http://"))
        assert info is not None
        assert info.signature_spec == spec
    # remembered: no second knock
    author = modern.actor("writer", key_index=1)
    await author.post(
        live.client, f"{group}/inbox", author.create(author.note("x", in_reply_to=f"{group}/m/0"))
    )
    await drain(live)
    assert [("signature-input" in h) for _, h, _ in claims_but_refuses.received] == [
        True,
        False,
        False,
    ]


async def test_an_inbox_the_address_guard_refuses_ends_the_follow_at_once(
    live: Live, servers: list[RemoteServer]
) -> None:
    """No two days of retries for an inbox that can never be reached from here (security
    issue #11, item 19). The address is refused before any connection is made."""
    group = await _discussion(live)
    evil = servers[0].actor("evil")
    document = evil.document

    def private_inbox() -> dict[str, object]:
        doc = document()
        doc["inbox"] = "http://10.0.0.1/inbox"
        doc["endpoints"] = {"sharedInbox": "http://169.254.169.254/inbox"}
        return doc

    evil.document = private_inbox  # type: ignore[method-assign]
    assert (
        await evil.post(live.client, f"{group}/inbox", evil.activity("Follow", group))
    ).status_code == 202
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 1
    await drain(live)
    rows = await live.store.db.fetch_all(
        "SELECT inbox, state, attempts, last_error FROM deliveries"
    )
    assert [(r[1], r[2]) for r in rows] == [("dead", 1)], [tuple(r) for r in rows]
    assert "address guard" in rows[0][3]
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0


async def test_a_follower_delivering_to_this_server_and_following_ourselves_are_refused(
    live: Live, servers: list[RemoteServer]
) -> None:
    group = await _discussion(live)
    loop_actor = servers[0].actor("loop")
    document = loop_actor.document

    def our_inbox() -> dict[str, object]:
        doc = document()
        doc["inbox"] = f"{group}/inbox"
        doc["endpoints"] = {"sharedInbox": f"{live.base_url}/inbox"}
        return doc

    loop_actor.document = our_inbox  # type: ignore[method-assign]
    r = await loop_actor.post(live.client, f"{group}/inbox", loop_actor.activity("Follow", group))
    assert r.status_code == 403
    assert (await live.client.get("/d/park/followers")).json()["totalItems"] == 0
    from fedi_forum.errors import InvalidInput

    with pytest.raises(InvalidInput, match="here"):
        await live.services.remote.follow(f"park@{live.domain}")


async def test_a_redirected_delivery_is_not_followed(
    live: Live, servers: list[RemoteServer]
) -> None:
    """A POST answered with a redirect is not a delivery, and we never follow it (the
    target could be anywhere)."""
    group = await _discussion(live)
    follower, elsewhere = servers[0], servers[1]
    f = follower.actor("f")
    follower.inbox_queue = [(302, {"Location": f"{elsewhere.base_url}/inbox"})] * 5
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await drain(live)
    assert follower.received  # our POST arrived and was answered with the redirect
    assert elsewhere.received == []
    rows = await live.store.db.fetch_all("SELECT state, last_status FROM deliveries")
    assert [tuple(r) for r in rows] == [("dead", 302)]


async def test_opening_posts_of_an_earlier_version_are_republished_as_articles(
    live: Live, remote: RemoteServer
) -> None:
    """Before docs/rules.md §17 an opening post was a Note with its title in bold in
    its content; forum servers showed the title twice. At start such posts become
    Articles, followers get the Update once, and a second start finds nothing to do."""
    group = await _discussion(live)
    f = remote.actor("f")
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    await drain(live)
    served = (await live.client.get("/d/park/m/0", headers={"Accept": AS2})).json()
    old = {k: v for k, v in served.items() if k not in ("summary", "name")}
    old["type"] = "Note"
    old["name"] = served["name"]
    old["content"] = f"<p><strong>{served['name']}</strong></p>{served['content']}"
    old["contentMap"] = {"nl": old["content"]}
    raw = orjson.dumps(old).decode()
    await live.store.db.write(
        lambda conn: conn.execute(
            "UPDATE notes SET raw = ?, content = ? WHERE seq = 0", (raw, old["content"])
        )
    )
    # two processes starting at once: one republishes, the other finds it done
    both = await asyncio.gather(
        live.discussions.republish_openings(), live.discussions.republish_openings()
    )
    assert sorted(both) == [0, 1]
    assert await live.discussions.republish_openings() == 0
    await drain(live)
    updates = [d for _, _, d in remote.delivered if d["type"] == "Update"]
    assert len(updates) == 1
    assert updates[0]["object"] == {k: v for k, v in served.items() if k != "@context"}
    assert (await live.client.get("/d/park/m/0", headers={"Accept": AS2})).json() == served
    page = (await live.client.get("/d/park", headers={"Accept": "text/html"})).text
    assert page.count(f"<strong>{served['name']}</strong>") == 0


@pytest.mark.parametrize("full_claims", [False, True])
async def test_a_busy_process_sends_a_few_deliveries_at_a_time_and_all_of_them(
    live: Live, servers: list[RemoteServer], monkeypatch: pytest.MonkeyPatch, full_claims: bool
) -> None:
    """Yielding (federation/delivery.py): while the process is busy answering requests,
    its worker sends at most YIELD_FLOOR deliveries at a time; every one still goes out;
    and once the process is quiet it sends to every server at once again. Both halves
    hold it: the claim takes few lanes, and (``full_claims``: every claim full, as one is
    every YIELD_CLAIM_EVERY) the lanes take turns (the bound on a turn's wait has a test
    of its own, below)."""
    from fedi_forum.federation import delivery
    from fedi_forum.federation.delivery import YIELD_FLOOR

    if full_claims:
        monkeypatch.setattr(delivery, "YIELD_CLAIM_EVERY", 0.0)
        monkeypatch.setattr(delivery, "YIELD_MAX", 10.0)  # no turn waited out here
    group = await _discussion(live)
    for i, server in enumerate(servers):
        f = server.actor(f"f{i}", key_index=i)
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    worker = live.services.delivery
    assert worker is not None
    async with asyncio.timeout(10):
        await worker.drain()  # the Accepts
    busy = True
    worker.busy = lambda: busy
    for server in servers:
        server.inbox_delay = 0.3

    async def announces(replies: int) -> int:
        """Post ``replies`` replies; the most deliveries answered at once until every
        server has every Announce."""
        author = servers[0].actor("writer")
        before = sum(len(s.delivered) for s in servers)
        for n in range(replies):
            note = author.note(f"reply {n}", in_reply_to=f"{group}/m/0")
            await author.post(live.client, f"{group}/inbox", author.create(note))
        most = 0
        async with asyncio.timeout(20):
            while sum(len(s.delivered) for s in servers) < before + replies * len(servers):
                most = max(most, sum(s.inbox_now for s in servers))
                await asyncio.sleep(0.005)
        return most

    assert await announces(3) <= YIELD_FLOOR < len(servers)
    busy = False
    assert await announces(1) == len(servers)  # quiet: all three at once


async def test_a_busy_worker_still_sends_past_servers_that_hang(
    live: Live, servers: list[RemoteServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Yielding is bounded (federation/delivery.py): two servers that hang hold both of
    a busy worker's turns, yet a third server's Accept and Announce go out within the
    bounds (a full claim every YIELD_CLAIM_EVERY, a turn waited for YIELD_MAX at most),
    long before the hung ones answer."""
    from fedi_forum.federation import delivery

    monkeypatch.setattr(delivery, "YIELD_CLAIM_EVERY", 0.3)
    monkeypatch.setattr(delivery, "YIELD_MAX", 0.3)
    group = await _discussion(live)
    hung, also_hung, fast = servers
    worker = live.services.delivery
    assert worker is not None
    for i, server in enumerate((hung, also_hung)):
        f = server.actor(f"f{i}", key_index=i)
        await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    async with asyncio.timeout(10):
        await worker.drain()  # their Accepts
    worker.busy = lambda: True
    hung.inbox_delay = also_hung.inbox_delay = 4.0
    author = hung.actor("writer")
    reply = author.note("first", in_reply_to=f"{group}/m/0")
    await author.post(live.client, f"{group}/inbox", author.create(reply))
    async with asyncio.timeout(2):
        while hung.inbox_now + also_hung.inbox_now < 2:  # both turns taken, hanging
            await asyncio.sleep(0.01)
    started = asyncio.get_running_loop().time()
    f = fast.actor("f2", key_index=2)
    await f.post(live.client, f"{group}/inbox", f.activity("Follow", group))
    second = author.note("second", in_reply_to=f"{group}/m/0")
    await author.post(live.client, f"{group}/inbox", author.create(second))
    async with asyncio.timeout(2.5):
        while {d["type"] for _, _, d in fast.delivered} != {"Accept", "Announce"}:
            await asyncio.sleep(0.02)
    assert hung.inbox_now >= 1  # still hanging: nothing waited them out
    assert also_hung.inbox_now >= 1
    assert asyncio.get_running_loop().time() - started < 2.5


async def test_requests_in_flight_make_the_worker_yield(live: Live) -> None:
    """The wiring: requests this process is answering (here, inbox POSTs whose bodies
    trickle) make its worker busy (web/admission.BUSY of them), and it is quiet again
    when they end."""
    from fedi_forum.web.admission import BUSY

    await _discussion(live)
    worker = live.services.delivery
    assert worker is not None
    assert not worker.busy()
    port = int(live.base_url.rsplit(":", 1)[1])
    writers = []
    for _ in range(BUSY):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /d/park/inbox HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n"
            b'content-type: application/activity+json\r\n\r\n{"id":'
        )
        await writer.drain()
        writers.append(writer)
    async with asyncio.timeout(5):
        while not worker.busy():
            await asyncio.sleep(0.01)
    for writer in writers:
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(5):
        while worker.busy():
            await asyncio.sleep(0.01)
