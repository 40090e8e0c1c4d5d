"""fedi-forum against Fedify (npm), an ActivityPub implementation nobody here wrote.

The peer (fedify_peer/peer.mjs, versions pinned in its package-lock.json) is a
Mastodon-like account: it looks the discussion up by WebFinger over https, fetches the
Group, follows it and must verify our Accept with its own code, replies the way
Mastodon addresses replies, receives the group's Announce and dereferences the shared
note with a signed GET, edits, deletes and unfollows. Run once per signature format:
the peer's first knock (draft-cavage or RFC 9421) and ours towards it.

`make test` installs the peer (`npm ci`); without Node it is skipped, except under
`.ci/run` (FEDI_FORUM_TEST_REQUIRE_PEER=1), where a missing peer fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from fedi_forum.activitypub import signatures
from fedi_forum.forum.categories import Categories
from fedi_forum.models import CategoryPosting, NoteState
from tests.conftest import live_instance
from tests.support.remote import pooled_key
from tests.support.tls import self_signed

PEER_DIR = Path(__file__).parent / "fedify_peer"


def _peer_available() -> bool:
    ready = shutil.which("node") is not None and (PEER_DIR / "node_modules/@fedify").is_dir()
    if not ready and os.environ.get("FEDI_FORUM_TEST_REQUIRE_PEER") == "1":
        pytest.fail("the Fedify peer is not installed (make peer)", pytrace=False)
    return ready


pytestmark = pytest.mark.skipif(not _peer_available(), reason="Fedify peer not installed")


class Peer:
    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.client = client

    async def call(self, name: str, **args: Any) -> Any:
        response = await self.client.post(f"{self.base_url}/control/{name}", json=args)
        assert response.status_code == 200, response.text
        return response.json()

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("state")
        return result


@contextlib.asynccontextmanager
async def fedify_peer(ca_file: Path, first_knock: str) -> AsyncIterator[Peer]:
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(ca_file), "PEER_FIRST_KNOCK": first_knock}
    env.pop("NODE_OPTIONS", None)
    proc = await asyncio.create_subprocess_exec(
        "node",
        "peer.mjs",
        cwd=PEER_DIR,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            assert proc.stderr is not None
            raise AssertionError((await proc.stderr.read()).decode())
        port = orjson.loads(line)["port"]
        async with httpx.AsyncClient(timeout=30) as client:
            yield Peer(f"http://127.0.0.1:{port}", client)
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("spec", ["draft-cavage-http-signatures-12", "rfc9421"])
async def test_fedify_peer_follows_replies_edits_deletes_unfollows(
    tmp_path: Path, spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_formats: list[str] = []
    read_signature = signatures.read_signature

    def spy(request: signatures.Request, now: Any = None) -> signatures.SignatureClaim:
        claim = read_signature(request, now)
        seen_formats.append(type(claim).__name__)
        return claim

    monkeypatch.setattr(signatures, "read_signature", spy)
    ours = "rfc9421" if spec == "rfc9421" else "cavage"
    cert, key = self_signed(tmp_path / "tls")
    async with live_instance(tmp_path, tls=(cert, key)) as live, fedify_peer(cert, spec) as peer:
        await live.discussions.create(slug="park", title="Het park", body="Wat vindt u?", lang="nl")
        group = f"{live.base_url}/d/park"
        peer_host = peer.base_url.removeprefix("http://")
        await live.store.set_signature_spec(peer_host, ours)  # how we sign towards it

        # WebFinger (over https, as Fedify insists for acct:) and the Group document
        handle = f"@park@{live.domain}"
        found = await peer.call("lookup", handle=handle)
        assert found["id"] == group
        assert found["type"] == "Group"
        assert found["name"] == "Het park"

        # follow → our Accept, verified by Fedify (else its inbox answers 401 and the
        # listener never sees it)
        await peer.call("follow", target=handle)
        d = await live.store.discussion("park")
        assert d is not None

        async def accepted() -> bool:
            return any(r["type"] == "Accept" for r in (await peer.state())["received"])

        await until(accepted)
        assert await live.store.followers_count(d.id) == 1

        # a reply, addressed as Mastodon addresses it
        reply = await peer.call(
            "reply", target=handle, inReplyTo=f"{group}/m/0", text="Meer bomen!"
        )
        note = await live.store.note(d.id, 1)
        assert note is not None
        assert note.ap_id == reply["id"]
        assert "Meer bomen!" in note.content
        assert note.author.name == "Alice (Fedify)"

        # the group's Announce reaches the follower, which fetches the note it shares
        async def announced() -> bool:
            return bool((await peer.state())["fetched"])

        await until(announced)
        state = await peer.state()
        announce = next(r for r in state["received"] if r["type"] == "Announce")
        assert announce["actor"] == group
        assert announce["object"] == reply["id"]
        assert state["fetched"][0]["id"] == reply["id"]
        # and Fedify can read the opening post with a signed GET
        opening = await peer.call("fetch", url=f"{group}/m/0")
        assert opening["attributedTo"] == group
        # as an Article (docs/rules.md §17): the title once, as its name, and a lead
        read = await peer.call("read", url=f"{group}/m/0")
        assert read["type"] == "Article"
        assert read["attributedTo"] == group
        assert read["name"] == opening["name"]
        assert read["summary"] == opening["summary"]
        assert opening["name"] not in read["content"]

        # edit and delete
        await peer.call(
            "edit", target=handle, id=reply["id"].rsplit("/", 1)[1], text="Meer bankjes!"
        )
        note = await live.store.note(d.id, 1)
        assert note is not None
        assert "Meer bankjes!" in note.content
        assert note.updated is not None
        await peer.call("delete", target=handle, id=reply["id"].rsplit("/", 1)[1])
        note = await live.store.note(d.id, 1)
        assert note is not None
        assert note.state is NoteState.DELETED

        # unfollow
        await peer.call("unfollow", target=handle)
        assert await live.store.followers_count(d.id) == 0

        # what each side used: the peer's format towards us, ours towards it
        expected = "Rfc9421Claim" if spec == "rfc9421" else "CavageClaim"
        assert set(seen_formats) == {expected}
        inbox_posts = [r for r in state["inboxRequests"] if r["status"] < 300]
        assert inbox_posts
        assert all(r["rfc9421" if ours == "rfc9421" else "cavage"] for r in inbox_posts)
        assert (await peer.state())["errors"] == []

        # a request claiming to be alice but not signed with her key: refused
        alice = f"{peer.base_url}/users/alice"
        forged = orjson.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{alice}#forged",
                "type": "Follow",
                "actor": alice,
                "object": group,
            }
        )
        headers = signatures.sign_request(
            method="POST",
            url=f"{group}/inbox",
            key_id=f"{alice}#main-key",
            private_key=pooled_key(0),
            body=forged,
        )
        response = await live.client.post(f"{group}/inbox", content=forged, headers=headers)
        assert response.status_code == 401
        assert await live.store.followers_count(d.id) == 0


async def test_fedify_peer_follows_a_category_and_starts_a_discussion(tmp_path: Path) -> None:
    """docs/categories.md with an independent implementation: Fedify finds a category
    by WebFinger, follows it (our Accept verified by Fedify), gets a new discussion as
    the category's boost (verified, then fetched with a signed GET), and starts a
    discussion by mentioning the category; its answer reaches Fedify verified too."""
    cert, key = self_signed(tmp_path / "tls")
    async with (
        live_instance(tmp_path, tls=(cert, key)) as live,
        fedify_peer(cert, "rfc9421") as peer,
    ):
        cats = Categories(live.settings, live.store, live.discussions.keyring)
        await cats.create(slug="verkeer", name="Verkeer")
        await cats.edit("verkeer", posting=CategoryPosting.OPEN)
        category = f"{live.base_url}/c/verkeer"
        await live.store.set_signature_spec(peer.base_url.removeprefix("http://"), "rfc9421")
        handle = f"@verkeer@{live.domain}"
        found = await peer.call("lookup", handle=handle)
        assert found["id"] == category
        assert found["type"] == "Group"
        await peer.call("follow", target=handle)

        async def accepted() -> bool:
            return any(r["type"] == "Accept" for r in (await peer.state())["received"])

        await until(accepted)
        await live.discussions.create(
            slug="drempels", title="Drempels", body="Waar?", lang="nl", category="verkeer"
        )
        opening = f"{live.base_url}/d/drempels/m/0"

        async def boosted() -> bool:
            return any(f["id"] == opening for f in (await peer.state())["fetched"])

        await until(boosted)
        received = (await peer.state())["received"]
        assert {"type": "Announce", "actor": category, "object": opening} in [
            {k: r[k] for k in ("type", "actor", "object")} for r in received
        ]
        # a public post that mentions the category and replies to nothing
        post = await peer.call(
            "reply",
            target=handle,
            inReplyTo=None,
            text="Fietsstraat<br>Kan de Laan een fietsstraat worden?",
        )
        d = await live.store.discussion("fietsstraat")
        assert d is not None
        assert d.category_id is not None

        async def answered() -> bool:
            return any(
                r["type"] == "Create" and r["actor"] == category
                for r in (await peer.state())["received"]
            )

        await until(answered)
        assert (await peer.state())["errors"] == []
        assert post["id"].startswith(peer.base_url)
