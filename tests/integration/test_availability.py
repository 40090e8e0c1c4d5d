"""Availability over real HTTP (security issue #11, items 9-10): a flood of requests from
signers we do not know, whose key servers answer slowly, must not take the admission
slots that pages and known senders need; a body trickling in is cut off at its
deadline with 408, and that counts against its sender."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fedi_forum.activitypub.signatures import sign_request
from fedi_forum.app import create_app
from fedi_forum.config import Settings
from fedi_forum.federation import keys as resolver
from fedi_forum.web import forms
from tests.conftest import Live
from tests.support.http import AS2, BROWSER
from tests.support.live import live_server
from tests.support.remote import RemoteServer, pooled_key

KEY_DELAY = 2.0  # the slow key server's answer time


@contextlib.asynccontextmanager
async def instance(tmp_path: Path, **overrides: object) -> AsyncIterator[Live]:
    made: dict[str, Settings] = {}

    def make(base_url: str) -> Starlette:
        made["s"] = Settings(
            base_url=base_url,
            data_dir=tmp_path / "data",
            keys_dir=tmp_path / "keys",
            allow_loopback=True,
            **overrides,  # type: ignore[arg-type]
        )
        return create_app(made["s"])

    async with (
        live_server(make) as (base_url, app),
        httpx.AsyncClient(base_url=base_url, timeout=20) as client,
    ):
        yield Live(base_url, client, app.state.services, made["s"])


@contextlib.asynccontextmanager
async def slow_key_server() -> AsyncIterator[str]:
    """Answers every actor fetch after KEY_DELAY seconds (with a 404)."""

    async def actor(_request: Request) -> Response:
        await asyncio.sleep(KEY_DELAY)
        return Response(status_code=404)

    async with live_server(lambda _: Starlette(routes=[Route("/{rest:path}", actor)])) as (
        base_url,
        _,
    ):
        yield base_url


async def test_unknown_slow_signers_do_not_take_the_slots_of_pages_and_known_senders(
    tmp_path: Path, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolver, "MAX_UNKNOWN_PER_HOST", 12)  # of the 24 below
    async with instance(tmp_path, max_in_flight=16) as live, slow_key_server() as slow:
        await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
        group = f"{live.base_url}/d/park"
        alice = remote.actor("alice")
        warm = alice.create(alice.note("bekend", in_reply_to=f"{group}/m/0"))
        assert (await alice.post(live.client, f"{group}/inbox", warm)).status_code == 202
        stranger_key = pooled_key(5)

        async def unknown(i: int) -> int:
            actor = f"{slow}/users/u{i}"
            body = orjson.dumps(
                {
                    "@context": "https://www.w3.org/ns/activitystreams",
                    "id": f"{actor}#c{i}",
                    "type": "Create",
                    "actor": actor,
                    "object": f"{actor}/statuses/{i}",
                }
            )
            headers = sign_request(
                method="POST",
                url=f"{group}/inbox",
                key_id=f"{actor}#main-key",
                private_key=stranger_key,
                body=body,
            )
            async with httpx.AsyncClient(timeout=30) as client:
                r = await client.post(f"{group}/inbox", content=body, headers=headers)
            return r.status_code

        flood = [asyncio.create_task(unknown(i)) for i in range(24)]  # 1.5x the slots
        await asyncio.sleep(0.5)  # every flood request is now waiting on its key
        started = time.monotonic()
        page = await live.client.get("/d/park", headers=BROWSER)
        reply = alice.create(alice.note("tijdens de vloed", in_reply_to=f"{group}/m/0"))
        posted = await alice.post(live.client, f"{group}/inbox", reply)
        elapsed = time.monotonic() - started
        assert page.status_code == 200
        assert posted.status_code == 202
        assert elapsed < 1.0, f"a page and a known reply took {elapsed:.2f} s during the flood"
        results = await asyncio.gather(*flood)
        # 12 waited for their keys (then 401: none exists); the other 12 found the host's
        # waiting line full and were told at once to come back (503), without a fetch
        assert sorted(results) == [401] * 12 + [503] * 12, results


async def test_a_body_trickling_in_is_cut_off_and_counts_against_its_sender(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forms, "BODY_DEADLINE", 1.0)
    async with instance(tmp_path, inbox_rate=5) as live:  # a burst of 50 per client
        await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
        port = int(live.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /d/park/inbox HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n"
            b"content-type: application/activity+json\r\n\r\n"
        )
        started = time.monotonic()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for byte in b'{"id": "https://x.example/1", "type": "Create"':
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.4)

        sender = asyncio.create_task(trickle())
        status_line = await asyncio.wait_for(reader.readline(), 5)
        sender.cancel()
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
        assert time.monotonic() - started < 3
        # the slow body cost its sender 25 requests' worth of its burst of 50
        statuses = [
            (
                await live.client.post("/inbox", content=b"{}", headers={"content-type": AS2})
            ).status_code
            for _ in range(40)  # without the penalty all 40 fit in the burst (400s)
        ]
        assert 429 in statuses, statuses
        assert statuses[:15] == [400] * 15
