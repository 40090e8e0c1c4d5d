"""Outbound fetches through the SSRF guard, against a real server on 127.0.0.1.

Every refused target here is refused before a connection is made (IP literals and
schemes by the URL check, names by the connecting socket), so no test ever sends a
packet anywhere but loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from fedi_forum.errors import FetchError, UnsafeUrl
from fedi_forum.federation.client import AddressPolicy, FederationClient
from tests.conftest import AS2, Live
from tests.support.remote import RemoteServer


@pytest.fixture
async def client() -> AsyncIterator[FederationClient]:
    c = FederationClient(
        policy=AddressPolicy(allow_loopback=True), signer=None, base_url="http://127.0.0.1:1"
    )
    await c.start()
    yield c
    await c.close()


async def test_fetch_follows_checked_redirects(
    client: FederationClient, remote: RemoteServer
) -> None:
    alice = remote.actor("alice")
    remote.custom["/x/hop"] = (302, {"Location": "/users/alice"}, b"")
    fetched = await client.get_json(f"{remote.base_url}/x/hop")
    assert fetched.url == alice.id
    assert fetched.document["id"] == alice.id


@pytest.mark.parametrize(
    ("status", "headers", "body", "match"),
    [
        pytest.param(
            302,
            {"Location": "http://0.0.0.0:9/x"},
            b"",
            "not allowed",
            id="redirect-to-unspecified",
        ),
        pytest.param(
            302,
            {"Location": "http://169.254.169.254/latest"},
            b"",
            "not allowed",
            id="redirect-to-metadata",
        ),
        pytest.param(302, {"Location": "/x/loop"}, b"", "too many redirects", id="loop"),
        pytest.param(200, {"Content-Type": "text/html"}, b"{}", "content type", id="html"),
        pytest.param(
            200, {"Content-Type": AS2}, b"[" + b"1," * 600_000 + b"1]", "too large", id="huge"
        ),
        pytest.param(500, {}, b"", "answered 500", id="server-error"),
    ],
)
async def test_fetch_refusals(
    client: FederationClient,
    remote: RemoteServer,
    status: int,
    headers: dict[str, str],
    body: bytes,
    match: str,
) -> None:
    remote.custom["/x/loop"] = (302, {"Location": "/x/loop"}, b"")
    remote.custom["/x/t"] = (status, headers, body)
    with pytest.raises(FetchError, match=match):
        await client.get_json(f"{remote.base_url}/x/t")


async def test_strict_mode_refuses_loopback_even_by_name(remote: RemoteServer) -> None:
    strict = FederationClient(
        policy=AddressPolicy(allow_loopback=False), signer=None, base_url="https://forum.example"
    )
    await strict.start()
    try:
        port = remote.base_url.rsplit(":", 1)[1]
        with pytest.raises(UnsafeUrl):
            await strict.get_json(f"{remote.base_url}/users/alice")  # plain http
        with pytest.raises(FetchError, match="SSRF guard"):
            await strict.get_json(f"https://localhost:{port}/users/alice")  # a name → 127.0.0.1
    finally:
        await strict.close()
    assert remote.fetches == []


async def test_ssrf_key_ids_are_401_without_any_connection(
    live: Live, remote: RemoteServer
) -> None:
    await live.discussions.create(slug="park", title="Park", body="b", lang="nl")
    alice = remote.actor("alice")
    create = alice.create(alice.note("x"))
    body = orjson.dumps(create)
    for key_id in (
        "http://169.254.169.254/latest/meta-data#k",
        "http://10.0.0.1/k",
        "file:///etc/passwd",
        "http://0.0.0.0:80/k",
    ):
        headers = alice.signed_headers(f"{live.base_url}/inbox", body)
        headers["signature"] = headers["signature"].replace(alice.key_id, key_id)
        r = await live.client.post("/inbox", content=body, headers=headers)
        assert r.status_code == 401, key_id
    # inReplyTo pointing at a metadata service is never fetched either
    sneaky = alice.note("y", in_reply_to="http://169.254.169.254/latest/meta-data")
    r = await alice.post(live.client, f"{live.base_url}/inbox", alice.create(sneaky))
    assert r.status_code == 202
    assert await live.store.note_location(sneaky["id"]) is None
