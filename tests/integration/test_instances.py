"""Two real fedi-forum instances (own ports, data dirs, keys) federating: B follows a
discussion on A with the `fedi-forum follow` command, A accepts, B backfills A's
history from its context collection, later replies reach B as FEP-1b12
Announce{Create} and are fetched from their origin, B shows them in A's order, and
`fedi-forum unfollow` stops it. Plus any FEP-1b12 group (a Lemmy community's shapes)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from fedi_forum.errors import InvalidInput
from fedi_forum.models import NewNote, RemoteGroupState
from tests.conftest import Live, live_instance
from tests.support.remote import PUBLIC, RemoteServer

PAYLOADS = Path(__file__).parents[1] / "interop" / "payloads"


async def cli(instance: Live, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, on an instance's data directory while its server runs."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fedi_forum",
        *args,
        *instance.cli_options,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


async def reply(remote: RemoteServer, a: Live, text: str, parent: str) -> str:
    """alice (on a Mastodon-like server) replies to A's discussion, as Mastodon does."""
    alice = remote.actors.get("alice") or remote.actor("alice")
    group = f"{a.base_url}/d/park"
    note = alice.note(text, in_reply_to=parent, mention=group)
    response = await alice.post(a.client, f"{group}/inbox", alice.create(note))
    assert response.status_code == 202, response.text
    return str(note["id"])


async def test_instance_follows_a_discussion_on_another_instance(
    tmp_path: Path, remote: RemoteServer
) -> None:
    async with live_instance(tmp_path / "a") as a, live_instance(tmp_path / "b") as b:
        await a.discussions.create(slug="park", title="Het park", body="Wat vindt u?", lang="nl")
        opening = f"{a.base_url}/d/park/m/0"
        first = await reply(remote, a, "Eerste reactie", opening)  # before B follows

        done = await cli(b, "follow", f"@park@{a.domain}", "--allow-loopback")
        assert done.returncode == 0, done.stderr
        assert "queued" in done.stdout
        group_id = f"{a.base_url}/d/park"

        async def backfilled() -> bool:
            g = await b.store.remote_group(group_id)
            return g is not None and g.state is RemoteGroupState.ACCEPTED and g.note_count == 2

        await until(backfilled)
        assert await a.store.followers_count((await a.store.discussion("park")).id) == 1  # type: ignore[union-attr]

        second = await reply(remote, a, "Tweede reactie", first)  # live: Announce{Create}

        async def arrived() -> bool:
            g = await b.store.remote_group(group_id)
            return g is not None and g.note_count == 3

        await until(arrived)
        g = await b.store.remote_group(group_id)
        assert g is not None
        notes = await b.store.remote_notes_page(g.id, 0, 50)
        assert [n.ap_id for n in notes] == [opening, first, second]  # A's order
        assert [n.seq for n in notes] == [0, 1, 2]
        assert notes[2].in_reply_to_seq == 1
        assert notes[1].author.handle == f"@alice@{remote.base_url.split('//')[1]}"

        page = await b.client.get(f"/r/park@{a.domain}", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        html = page.text
        assert "Het park" in html
        assert f"A discussion on {a.domain}" in html
        assert html.index("Eerste reactie") < html.index("Tweede reactie")
        assert f'href="{group_id}"' in html  # the original discussion
        assert f'href="{remote.base_url}/@alice/' in html  # each message's original
        index = await b.client.get("/", headers={"Accept-Language": "nl"})
        assert "Gevolgd op andere servers" in index.text
        assert f"/r/park@{a.domain}" in index.text

        listing = await cli(b, "following")
        assert f"accepted\t@park@{a.domain}\t3 notes" in listing.stdout

        # unfollow: A forgets B, and what A shares next no longer arrives
        done = await cli(b, "unfollow", f"@park@{a.domain}", "--allow-loopback")
        assert done.returncode == 0, done.stderr
        d = await a.store.discussion("park")
        assert d is not None

        async def unfollowed() -> bool:
            return await a.store.followers_count(d.id) == 0

        await until(unfollowed)
        await reply(remote, a, "Derde reactie", opening)
        assert a.services.delivery is not None
        async with asyncio.timeout(20):
            await a.services.delivery.drain()
        g = await b.store.remote_group(group_id)
        assert g is not None
        assert g.state is RemoteGroupState.ENDED
        assert g.note_count == 3
        page = await b.client.get(f"/r/park@{a.domain}", headers={"Accept-Language": "en"})
        assert "No longer followed" in page.text
        assert "Derde reactie" not in page.text


def lemmy_community(remote: RemoteServer) -> Any:
    community = remote.actor("main", type_="Group", path="/c/main", key_index=1)
    remote.actor("lemmy_alpha", path="/u/lemmy_alpha", key_index=2)
    return community


async def test_following_a_lemmy_style_group_fetches_announced_notes_and_parents(
    live: Live, remote: RemoteServer
) -> None:
    """A FEP-1b12 group elsewhere: Announce{Create{Note}} in Lemmy's shapes (golden
    payload), the note fetched from its origin, its missing parents fetched (bounded)."""
    community = lemmy_community(remote)
    group = await live.services.remote.follow(f"@main@{remote.base_url.split('//')[1]}")
    assert group.state is RemoteGroupState.PENDING
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    ((signer, path, follow),) = remote.delivered
    assert (signer, path, follow["type"]) == (
        live.services.urls.instance_actor,
        "/users/main/inbox",
        "Follow",
    )

    # an Accept of someone else's follow id changes nothing; ours does
    wrong = community.activity("Accept", {**follow, "id": follow["id"] + "x"})
    assert (await community.post(live.client, f"{live.base_url}/inbox", wrong)).status_code == 202
    assert (await live.store.remote_group(community.id)).state is RemoteGroupState.PENDING  # type: ignore[union-attr]
    accept = community.activity("Accept", follow)
    assert (await community.post(live.client, f"{live.base_url}/inbox", accept)).status_code == 202
    assert (await live.store.remote_group(community.id)).state is RemoteGroupState.ACCEPTED  # type: ignore[union-attr]

    # golden Lemmy payloads, their hosts moved to our fake server: the community shares
    # a post (Announce{Create{Page}}, embedded, vouched for by the group's host) ...
    base = remote.base_url
    remote.actor("lemmy_beta", path="/u/lemmy_beta", key_index=2)

    def golden(name: str) -> dict[str, Any]:
        text = (PAYLOADS / name).read_text().replace("http://enterprise.lemmy.ml", base)
        return orjson.loads(text.replace("http://ds9.lemmy.ml", base))  # type: ignore[no-any-return]

    shared = golden("lemmy_announce_create_page.json")
    response = await community.post(live.client, f"{live.base_url}/inbox", shared)
    assert response.status_code == 202, response.text
    # ... then a comment on a post we never saw: the parent is fetched from its origin
    post = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{base}/post/1",
        "type": "Page",
        "name": "Bankjes in het park",
        "content": "<p>Meer bankjes?</p>",
        "attributedTo": f"{base}/u/lemmy_alpha",
        "to": [community.id, PUBLIC],
        "audience": community.id,
        "published": "2026-11-27T10:00:00Z",
    }
    remote.objects[post["id"]] = post
    create = golden("lemmy_create_note.json")
    comment = create["object"]
    remote.objects[comment["id"]] = {"@context": "https://www.w3.org/ns/activitystreams", **comment}
    announce = community.activity("Announce", create, to=[PUBLIC], cc=[community.followers])
    response = await community.post(live.client, f"{live.base_url}/inbox", announce)
    assert response.status_code == 202, response.text
    notes = await live.store.remote_notes_page(group.id, 0, 50)
    assert [n.ap_id for n in notes] == [f"{base}/post/7", post["id"], comment["id"]]
    assert "post 4" in notes[0].content
    assert "Bankjes in het park" in notes[1].content
    assert notes[2].in_reply_to_seq == 1
    # the comment lives on the group's own host, which vouches for it (embedded copy
    # used); its missing parent was fetched. (Notes of other hosts: first test.)
    assert f"{base}/post/1" in remote.fetches
    assert f"{base}/comment/1" not in remote.fetches

    # the same Announce again: nothing new; a relayed Delete removes it from our copy
    assert (
        await community.post(live.client, f"{live.base_url}/inbox", announce)
    ).status_code == 202
    delete = community.activity("Announce", community.activity("Delete", comment["id"]))
    assert (await community.post(live.client, f"{live.base_url}/inbox", delete)).status_code == 202
    notes = await live.store.remote_notes_page(group.id, 0, 50)
    assert len(notes) == 3
    assert notes[2].state == "deleted"

    # a group we do not follow: its Announce is only a boost, nothing is stored
    other = remote.actor("other", type_="Group", path="/c/other", key_index=3)
    stray = other.activity("Announce", create)
    assert (await other.post(live.client, f"{live.base_url}/inbox", stray)).status_code == 202
    assert await live.store.remote_group(other.id) is None


async def test_follow_refuses_what_is_not_a_group(live: Live, remote: RemoteServer) -> None:
    remote.actor("bob")
    response = await live.client.get("/")
    assert response.status_code == 200
    host = remote.base_url.split("//")[1]
    with pytest.raises(InvalidInput, match="is a Person"):
        await live.services.remote.follow(f"@bob@{host}")
    with pytest.raises(InvalidInput):
        await live.services.remote.follow("@bob@[::1")  # not a handle
    done = await cli(live, "unfollow", f"@nobody@{host}")
    assert done.returncode == 2
    assert "not following" in done.stderr


async def test_admin_follows_and_unfollows_from_the_federation_page(
    live: Live, remote: RemoteServer
) -> None:
    from tests.support.http import BROWSER, PASSWORD, csrf_token, login

    community = lemmy_community(remote)
    await live.services.staff.create("beheer", PASSWORD, "admin")
    await login(live.client, "beheer")
    page = await live.client.get("/admin/federation", headers=BROWSER)
    token = csrf_token(page.text)
    handle = f"@main@{remote.base_url.removeprefix('http://')}"
    response = await live.client.post(
        "/admin/remote/follow", headers=BROWSER, data={"csrf": token, "handle": handle}
    )
    assert response.status_code == 303
    group = await live.store.remote_group(community.id)
    assert group is not None
    assert group.state is RemoteGroupState.PENDING
    page = await live.client.get("/admin/federation", headers=BROWSER)
    assert handle in page.text
    unknown = await live.client.post(
        "/admin/remote/forget", headers=BROWSER, data={"csrf": token, "handle": handle}
    )
    assert unknown.status_code == 404
    still = await live.store.remote_group(community.id)
    assert still is not None
    assert still.state is RemoteGroupState.PENDING  # an unknown action changes nothing
    response = await live.client.post(
        "/admin/remote/unfollow", headers=BROWSER, data={"csrf": token, "handle": handle}
    )
    assert response.status_code == 303
    group = await live.store.remote_group(community.id)
    assert group is not None
    assert group.state is RemoteGroupState.ENDED
    bad = await live.client.post(
        "/admin/remote/follow", headers=BROWSER, data={"csrf": token, "handle": "nonsense"}
    )
    assert bad.status_code == 400


async def test_group_without_context_is_backfilled_from_its_outbox_and_edits_apply(
    live: Live, remote: RemoteServer
) -> None:
    """A group that publishes no FEP-f228 context (no featured post): its outbox's
    Announces give the history, oldest first. A relayed Update with a newer `updated`
    replaces the content; the pages of our copy are paged and unknown copies are 404."""
    community = lemmy_community(remote)
    base = remote.base_url
    alpha = f"{base}/u/lemmy_alpha"

    def post(n: int, text: str, **extra: Any) -> dict[str, Any]:
        doc = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{base}/post/{n}",
            "type": "Page",
            "name": f"Post {n}",
            "content": f"<p>{text}</p>",
            "attributedTo": alpha,
            "to": [community.id, PUBLIC],
            "published": f"2026-11-2{n}T10:00:00Z",
            **extra,
        }
        remote.objects[doc["id"]] = doc
        return doc

    older, newer = post(1, "eerste"), post(2, "tweede")
    remote.objects[f"{community.id}/outbox"] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{community.id}/outbox",
        "type": "OrderedCollection",
        "totalItems": 2,
        "orderedItems": [  # newest first, as outboxes are
            {
                "type": "Announce",
                "actor": community.id,
                "object": {"type": "Create", "actor": alpha, "object": newer["id"]},
            },
            {"type": "Announce", "actor": community.id, "object": older["id"]},
        ],
    }
    group = await live.services.remote.follow(f"@main@{base.removeprefix('http://')}")
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    follow = remote.delivered[-1][2]
    accept = community.activity("Accept", follow)
    assert (await community.post(live.client, f"{live.base_url}/inbox", accept)).status_code == 202

    async def backfilled() -> bool:
        return len(await live.store.remote_notes_page(group.id, 0, 50)) == 2

    await until(backfilled)
    notes = await live.store.remote_notes_page(group.id, 0, 50)
    assert [n.ap_id for n in notes] == [older["id"], newer["id"]]

    # an edit relayed by the group: fetched from its origin, newer → applied
    edited = post(2, "tweede, herzien", updated="2026-11-28T12:00:00Z")
    update = community.activity(
        "Announce", {"type": "Update", "actor": alpha, "object": edited["id"]}
    )
    assert (await community.post(live.client, f"{live.base_url}/inbox", update)).status_code == 202
    notes = await live.store.remote_notes_page(group.id, 0, 50)
    assert "herzien" in notes[1].content
    assert notes[1].updated == "2026-11-28T12:00:00Z"

    # pages of 50, keyset by position; an unknown copy is a 404, not a 500
    now = "2026-11-28T12:00:00Z"
    extra = [
        NewNote(
            ap_id=f"{base}/comment/{i}",
            activity_id=None,
            author_id=alpha,
            in_reply_to=None,
            content=f"<p>reactie {i}</p>",
            summary=None,
            sensitive=False,
            lang="nl",
            url=None,
            visibility="public",
            published=now,
            updated=None,
            raw=None,
            accepted_at=now,
        )
        for i in range(60)
    ]
    await live.store.add_remote_notes(group.id, extra, [], now)
    handle = f"main@{base.removeprefix('http://')}"
    first = await live.client.get(f"/r/{handle}", headers={"Accept-Language": "en"})
    assert first.status_code == 200
    assert "reactie 47" in first.text
    assert "reactie 48" not in first.text  # positions 0-49: 2 posts + 48 comments
    assert 'href="?after=49' in first.text
    second = await live.client.get(f"/r/{handle}?after=49", headers={"Accept-Language": "en"})
    assert "reactie 48" in second.text
    assert "reactie 59" in second.text
    assert "reactie 47" not in second.text
    missing = await live.client.get("/r/nobody@nowhere.example")
    assert missing.status_code == 404


async def test_backfill_is_a_queued_job_retried_shown_and_resumed(
    live: Live, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a followed group's history is queued with the Accept; a failed read is
    retried with backoff and shown by `fedi-forum following`; a job a crashed process
    held is freed by the heartbeat and run by another."""
    from datetime import timedelta

    from fedi_forum.federation import retry

    monkeypatch.setattr(retry, "BASE_DELAY", timedelta(seconds=1))
    community = lemmy_community(remote)
    base = remote.base_url
    alpha = f"{base}/u/lemmy_alpha"
    doc: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{base}/post/1",
        "type": "Page",
        "name": "Post 1",
        "content": "<p>eerste</p>",
        "attributedTo": alpha,
        "to": [community.id, PUBLIC],
        "published": "2026-11-21T10:00:00Z",
    }
    remote.objects[doc["id"]] = doc
    group = await live.services.remote.follow(f"@main@{base.removeprefix('http://')}")
    assert live.services.delivery is not None
    async with asyncio.timeout(20):
        await live.services.delivery.drain()
    accept = community.activity("Accept", remote.delivered[-1][2])
    assert (await community.post(live.client, f"{live.base_url}/inbox", accept)).status_code == 202

    async def failed_once() -> bool:  # no outbox yet: the read fails
        g = await live.store.remote_group_by_id(group.id)
        return g is not None and g.backfill_attempts >= 1

    await until(failed_once)
    shown = await cli(live, "following")
    assert "retrying after 1 attempts" in shown.stdout, shown.stdout
    remote.objects[f"{community.id}/outbox"] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{community.id}/outbox",
        "type": "OrderedCollection",
        "totalItems": 1,
        "orderedItems": [{"type": "Announce", "actor": community.id, "object": doc["id"]}],
    }

    async def done() -> bool:
        g = await live.store.remote_group_by_id(group.id)
        return g is not None and g.backfill_state == "done"

    await until(done)
    assert [n.ap_id for n in await live.store.remote_notes_page(group.id, 0, 50)] == [doc["id"]]
    assert "history done" in (await cli(live, "following")).stdout

    # a crash: a job leased for 10 minutes by a process on another machine that stopped
    # beating its heart is run again once the heartbeat is stale
    await live.services.remote.stop()

    def crashed_holder(conn):  # type: ignore[no-untyped-def]
        conn.execute(
            "INSERT INTO workers VALUES ('elsewhere:1:1', 'elsewhere', 1, 'b', "
            "'2026-11-29T00:00:00Z', '2026-11-29T00:00:00.000000Z')"
        )
        conn.execute(
            "UPDATE backfills SET state = 'pending', locked_until = '2999-01-01T00:00:00Z', "
            "lease_owner = 'elsewhere:1:1', next_attempt_at = '2026-01-01T00:00:00Z'"
        )

    await live.store.db.write(crashed_holder)
    await live.services.remote.start()
    await until(done)
    left = await live.store.db.fetch_one("SELECT count(*) FROM workers WHERE machine = 'elsewhere'")
    assert left[0] == 0  # the stale worker is forgotten
