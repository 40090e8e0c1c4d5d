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
from tests.conftest import Live
from tests.support.http import AS2
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


async def test_redirect_chains_of_three_are_followed_and_four_are_not(
    client: FederationClient, remote: RemoteServer
) -> None:
    alice = remote.actor("alice")
    for n, status in enumerate((301, 303, 307, 308)):  # every redirect status we follow
        remote.custom[f"/x/r{n}"] = (status, {"Location": f"/x/r{n + 1}"}, b"")
    remote.custom["/x/r4"] = (302, {"Location": "/users/alice"}, b"")
    assert (await client.get_json(f"{remote.base_url}/x/r2")).url == alice.id  # 3 hops
    with pytest.raises(FetchError, match="too many redirects"):
        await client.get_json(f"{remote.base_url}/x/r1")  # 4 hops
    remote.custom["/x/nowhere"] = (302, {}, b"")
    with pytest.raises(FetchError, match="without Location"):
        await client.get_json(f"{remote.base_url}/x/nowhere")


async def test_gone_and_content_types(client: FederationClient, remote: RemoteServer) -> None:
    from fedi_forum.federation.client import JRD_ACCEPT, GoneError

    remote.custom["/x/gone"] = (410, {}, b"")
    with pytest.raises(GoneError):
        await client.get_json(f"{remote.base_url}/x/gone")
    body = orjson.dumps({"id": "x"})
    ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    cases = [
        (AS2, AS2, True),
        (ld, AS2, True),
        ("application/ld+json", AS2, False),  # JSON-LD without the ActivityStreams profile
        ("application/json", AS2, False),
        ("application/jrd+json", JRD_ACCEPT, True),
        ("application/json; charset=utf-8", JRD_ACCEPT, True),
        ("text/html", JRD_ACCEPT, False),
    ]
    for content_type, accept, ok in cases:
        remote.custom["/x/doc"] = (200, {"Content-Type": content_type}, body)
        if ok:
            assert (await client.get_json(f"{remote.base_url}/x/doc", accept=accept)).document
        else:
            with pytest.raises(FetchError, match="content type"):
                await client.get_json(f"{remote.base_url}/x/doc", accept=accept)


async def test_a_body_without_length_is_capped_while_it_streams() -> None:
    """No Content-Length (chunked): the cap is counted over the chunks as they come."""
    from fedi_forum.federation.client import MAX_BODY, _read_capped

    class Content:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        async def iter_chunked(self, _size: int) -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                yield chunk

    class Response:
        def __init__(self, chunks: list[bytes], length: str | None = None) -> None:
            self.headers = {"Content-Length": length} if length else {}
            self.content = Content(chunks)

    piece = b"x" * (64 * 1024)
    exact = [piece] * (MAX_BODY // len(piece))
    assert await _read_capped(Response(exact)) == b"".join(exact)  # type: ignore[arg-type]
    with pytest.raises(FetchError, match="too large"):
        await _read_capped(Response([*exact, b"y"]))  # type: ignore[arg-type]
    with pytest.raises(FetchError, match="too large"):
        await _read_capped(Response([b"{}"], str(MAX_BODY + 1)))  # type: ignore[arg-type]
    assert await _read_capped(Response([b"{}"], str(MAX_BODY))) == b"{}"  # type: ignore[arg-type]
