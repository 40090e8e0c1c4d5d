"""Moderation over real HTTP: hiding, restoring and deleting replies (with what the
followers are told), blocks, the public log and the "report a problem" form."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import feedparser
import pytest

from fedi_forum.forum.moderation import Moderation
from tests.conftest import Live
from tests.support.http import BROWSER
from tests.support.remote import RemoteServer


async def _reply(live: Live, remote: RemoteServer, text: str = "een reactie") -> str:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    note = alice.note(text, in_reply_to=f"{group}/m/0")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    return str(note["id"])


async def _drain(live: Live) -> None:
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()


async def test_hide_and_restore_stay_on_this_site(live: Live, remote: RemoteServer) -> None:
    note_id = await _reply(live, remote, "onaardig")
    moderation = Moderation(live.settings, live.store)
    assert await moderation.moderate("park", 1, "hide", "respect") == "done"
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "onaardig" not in page
    assert "door een moderator verwijderd" in page
    assert 'id="m1"' in page  # it keeps its place
    context = (await live.client.get("/d/park/context")).json()["orderedItems"]
    assert note_id not in context
    assert "onaardig" not in (await live.client.get("/d/park/feed.rss")).text
    assert await moderation.moderate("park", 1, "hide", "respect") == "unchanged"
    assert await moderation.moderate("park", 1, "restore", "") == "done"
    assert "onaardig" in (await live.client.get("/d/park", headers=BROWSER)).text
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 1
    log = (await live.client.get("/modlog", headers=BROWSER)).text
    assert "Verborgen" in log
    assert "Teruggezet" in log
    assert "respect" in log


async def test_delete_tells_followers_and_keeps_the_place(live: Live, remote: RemoteServer) -> None:
    note_id = await _reply(live, remote, "spam spam")
    await _drain(live)
    moderation = Moderation(live.settings, live.store)
    assert await moderation.moderate("park", 1, "delete", "spam") == "done"
    await _drain(live)
    undo = remote.delivered[-1][2]
    assert undo["type"] == "Undo"
    assert undo["object"]["type"] == "Announce"
    assert undo["object"]["id"] == f"{live.base_url}/d/park/m/1/announce"
    assert remote.rejected == []
    page = (await live.client.get("/d/park", headers=BROWSER)).text
    assert "spam spam" not in page
    assert 'id="m1"' in page
    # the same note cannot come back
    alice = remote.actors["alice"]
    again = alice.create(dict(remote.objects[note_id]))
    again["id"] += "-again"
    await alice.post(live.client, f"{live.base_url}/inbox", again)
    assert "spam spam" not in (await live.client.get("/d/park", headers=BROWSER)).text
    with pytest.raises(Exception, match="no reply"):
        await moderation.moderate("park", 0, "delete", "spam")  # not the opening post


async def test_blocking_a_domain_everywhere(live: Live, remote: RemoteServer) -> None:
    await _reply(live, remote, "van een slechte server")
    moderation = Moderation(live.settings, live.store)
    target, follows, hidden = await moderation.block("domain", "127.0.0.1", "spam")
    assert (target, follows, hidden) == ("127.0.0.1", 1, 1)
    await live.services.blocklist.reload()
    assert "slechte server" not in (await live.client.get("/d/park", headers=BROWSER)).text
    bob = remote.actor("bob", key_index=1)
    r = await bob.post(
        live.client,
        f"{live.base_url}/d/park/inbox",
        bob.activity("Follow", f"{live.base_url}/d/park"),
    )
    assert r.status_code == 403
    assert await moderation.unblock("domain", "127.0.0.1")
    with pytest.raises(Exception, match="not a domain"):
        await moderation.block("domain", "not a domain", "spam")


async def test_report_form(live: Live, remote: RemoteServer) -> None:
    await _reply(live, remote, "iets vervelends")
    form = await live.client.get("/d/park/m/1/report", headers=BROWSER)
    assert form.status_code == 200
    assert 'name="reason"' in form.text
    assert 'for="comment"' in form.text
    sent = await live.client.post(
        "/d/park/m/1/report",
        headers=BROWSER,
        data={"reason": "respect", "comment": "scheldwoorden", "contact": "inwoner@example.nl"},
    )
    assert sent.status_code == 200
    assert "Dank je wel" in sent.text
    (report,) = await live.store.reports()
    assert report["source"] == "form"
    assert "scheldwoorden" in report["comment"]
    assert report["reporter"] == "inwoner@example.nl"
    # bots fill in the honeypot: thanked, not stored
    await live.client.post("/d/park/m/1/report", data={"reason": "spam", "website": "x"})
    assert len(await live.store.reports()) == 1
    bad = await live.client.post("/d/park/m/1/report", data={"reason": "nonsense"})
    assert bad.status_code == 400
    foreign = await live.client.post(
        "/d/park/m/1/report", data={"reason": "spam"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    # the rate limit (5 per 10 minutes per client)
    statuses = [
        (await live.client.post("/d/park/m/1/report", data={"reason": "spam"})).status_code
        for _ in range(6)
    ]
    assert statuses[-1] == 429
    limited = await live.client.post("/d/park/m/1/report", data={"reason": "spam"})
    assert int(limited.headers["retry-after"]) > 0
    assert (await live.client.get("/d/park/m/0/report")).status_code == 404
    assert (await live.client.get("/d/park/m/9/report")).status_code == 404


async def test_modlog_feed_and_no_reporters(live: Live, remote: RemoteServer) -> None:
    await _reply(live, remote)
    await live.client.post(
        "/d/park/m/1/report", data={"reason": "spam", "contact": "geheim@example.nl"}
    )
    await Moderation(live.settings, live.store).moderate("park", 1, "delete", "spam")
    feed = feedparser.parse((await live.client.get("/modlog.rss")).content)
    assert not feed.bozo
    assert len(feed.entries) == 1
    assert feed.entries[0].title == "Verwijderd: Park #1 (Niet over het onderwerp, reclame of spam)"
    english = feedparser.parse((await live.client.get("/modlog.rss?lang=en")).content)
    assert english.entries[0].title == "Removed: Park #1 (Off topic, advertising or spam)"
    assert english.feed.title.endswith("Moderation log")
    page = (await live.client.get("/modlog?lang=en", headers=BROWSER)).text
    assert "Removed" in page
    assert "geheim@example.nl" not in page


def test_moderation_cli(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "fedi_forum",
                *args,
                "--data-dir",
                str(tmp_path / "d"),
                "--keys-dir",
                str(tmp_path / "k"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    csv = tmp_path / "domain_blocks.csv"
    csv.write_text(
        "#domain,#severity,#reject_media,#reject_reports,#public_comment,#obfuscate\n"
        "spam.example,suspend,true,true,spam,false\n"
        "loud.example,silence,false,false,,false\n"
        "bad domain,suspend,false,false,,false\n"
    )
    preview = run("blocks", "--import", str(csv))
    assert preview.returncode == 0, preview.stderr
    assert "would block 1: spam.example" in preview.stdout
    assert "invalid 1" in preview.stdout
    assert run("blocks").stdout == ""
    assert "blocked 1" in run("blocks", "--import", str(csv), "--apply").stdout
    assert "spam.example" in run("blocks").stdout
    assert "already blocked 1" in run("blocks", "--import", str(csv)).stdout
    out = run("block", "domain", "Ünïcode.example", "--reason", "illegal").stdout
    assert "xn--" in out  # IDNA-normalised
    assert run("unblock", "domain", "spam.example").stdout.startswith("unblocked")
    assert run("moderate", "hide", "nope", "1").returncode == 2


async def test_premoderation_holds_until_approved(live: Live, remote: RemoteServer) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    await live.discussions.set_premoderate("park", True)
    group = f"{live.base_url}/d/park"
    alice = remote.actor("alice")
    await alice.post(live.client, f"{group}/inbox", alice.activity("Follow", group))
    note = alice.note("wacht op goedkeuring", in_reply_to=f"{group}/m/0")
    assert (await alice.post(live.client, f"{group}/inbox", alice.create(note))).status_code == 202
    await _drain(live)
    # held: not on the page, not in the context, not announced
    assert "wacht op goedkeuring" not in (await live.client.get("/d/park", headers=BROWSER)).text
    assert note["id"] not in (await live.client.get("/d/park/context")).json()["orderedItems"]
    assert [d["type"] for _, _, d in remote.delivered] == ["Accept"]
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 0
    assert d.last_seq == 1
    assert await Moderation(live.settings, live.store).moderate("park", 1, "approve", "") == "done"
    await _drain(live)
    assert "wacht op goedkeuring" in (await live.client.get("/d/park", headers=BROWSER)).text
    announce = remote.delivered[-1][2]
    assert announce["type"] == "Announce"
    assert announce["object"] == note["id"]
    d = await live.store.discussion("park")
    assert d is not None
    assert d.reply_count == 1


async def test_a_blocked_domain_is_refused_at_every_entry_point(
    live: Live, remote: RemoteServer
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    group = f"{live.base_url}/d/park"
    await Moderation(live.settings, live.store).block("domain", "blocked.example", "spam")
    await live.services.blocklist.reload()
    alice = remote.actor("alice")
    bad = "https://sub.blocked.example/users/x"
    cases = {
        "to/cc": alice.create(alice.note("a", in_reply_to=f"{group}/m/0", cc=[bad])),
        "inReplyTo": alice.create(alice.note("b", in_reply_to=f"{bad}/statuses/1")),
        "object": alice.activity("Announce", f"{bad}/statuses/2"),
    }
    for name, activity in cases.items():
        r = await alice.post(live.client, f"{group}/inbox", activity)
        assert r.status_code == 403, name
    # keyId on a blocked host: refused before any fetch
    body = b'{"id": "https://x.example/1", "type": "Follow", "actor": "https://x.example/a"}'
    headers = alice.signed_headers(f"{group}/inbox", body)
    headers["signature"] = headers["signature"].replace(alice.key_id, f"{bad}#main-key")
    r = await live.client.post(f"{group}/inbox", content=body, headers=headers)
    assert r.status_code == 403
    # delivery targets: nothing is sent to a blocked inbox
    from fedi_forum.store import Outgoing

    await live.store.queue(
        Outgoing("https://t/1", "{}", f"{live.base_url}/actor"),
        [f"{bad}/inbox"],
        "2026-11-28T00:00:00Z",
    )
    await _drain(live)
    row = await live.store.db.fetch_one(
        "SELECT state, last_error FROM deliveries WHERE inbox LIKE '%blocked.example%'"
    )
    assert tuple(row) == ("dead", "blocked")


async def test_report_form_bodies_are_bounded(live: Live, remote: RemoteServer) -> None:
    await _reply(live, remote)
    huge = await live.client.post(
        "/d/park/m/1/report",
        content=b"reason=spam&comment=" + b"x" * 20_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b"reason=spam"

    chunked = await live.client.post(
        "/d/park/m/1/report",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 400
    assert await live.store.reports() == []
