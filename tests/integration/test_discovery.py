"""WebFinger, host-meta, NodeInfo and the instance actor, over real HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedi_forum.models import DiscussionState
from tests.conftest import Live
from tests.support.http import AS2
from tests.support.seed import add_replies


async def test_webfinger_resolves_acct_case_insensitively_and_by_actor_url(live: Live) -> None:
    await live.discussions.create(slug="afval", title="Afval", body="b", lang="nl")
    for resource in (
        f"acct:afval@{live.domain}",
        f"acct:AFVAL@{live.domain.upper()}",
        f"afval@{live.domain}",
        f"{live.base_url}/d/afval",
    ):
        r = await live.client.get(
            "/.well-known/webfinger",
            params={"resource": resource},
            headers={"Accept": "application/jrd+json, application/json"},
        )
        assert r.status_code == 200, resource
        assert r.headers["content-type"] == "application/jrd+json"
        assert r.headers["access-control-allow-origin"] == "*"
        doc = r.json()
        assert doc["subject"] == f"acct:afval@{live.domain}"
        self_link = next(link for link in doc["links"] if link["rel"] == "self")
        assert self_link == {"rel": "self", "type": AS2, "href": f"{live.base_url}/d/afval"}
    # the round trip Mastodon performs: actor's preferredUsername@host fingers back to its id
    actor = (await live.client.get("/d/afval", headers={"Accept": AS2})).json()
    r = await live.client.get(
        "/.well-known/webfinger",
        params={"resource": f"acct:{actor['preferredUsername']}@{live.domain}"},
    )
    assert next(x["href"] for x in r.json()["links"] if x["rel"] == "self") == actor["id"]


@pytest.mark.parametrize(
    ("resource", "status"),
    [
        pytest.param("acct:nobody@{domain}", 404, id="unknown"),
        pytest.param("acct:afval@other.example", 404, id="other-domain"),
        pytest.param("acct:in valid@{domain}", 404, id="bad-name"),
        pytest.param("", 400, id="empty"),
        pytest.param("acct:" + "a" * 600, 400, id="huge"),
        pytest.param("acct:gone@{domain}", 410, id="deleted"),
    ],
)
async def test_webfinger_refusals(live: Live, resource: str, status: int) -> None:
    await live.discussions.create(slug="gone", title="Weg", body="b", lang="nl")
    await live.discussions.set_state("gone", DiscussionState.DELETED)
    r = await live.client.get(
        "/.well-known/webfinger", params={"resource": resource.format(domain=live.domain)}
    )
    assert r.status_code == status
    assert "error" in r.json()


async def test_webfinger_without_resource_parameter_is_400(live: Live) -> None:
    r = await live.client.get("/.well-known/webfinger")
    assert r.status_code == 400


async def test_instance_actor_is_fetchable_unsigned_with_its_key(live: Live) -> None:
    r = await live.client.get("/actor", headers={"Accept": AS2})
    assert r.status_code == 200
    assert r.headers["content-type"] == AS2
    doc = r.json()
    assert doc["type"] == "Application"
    assert doc["id"] == f"{live.base_url}/actor"
    assert doc["preferredUsername"] == live.domain
    pem = doc["publicKey"]["publicKeyPem"].encode()
    private = await live.discussions.keyring.load("instance")  # a file, or sealed on PostgreSQL
    public = serialization.load_pem_public_key(pem)
    assert isinstance(public, rsa.RSAPublicKey)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    r = await live.client.get(
        "/.well-known/webfinger", params={"resource": f"acct:{live.domain}@{live.domain}"}
    )
    assert r.json()["links"][0]["href"] == doc["id"]


async def test_host_meta_points_to_webfinger(live: Live) -> None:
    r = await live.client.get("/.well-known/host-meta")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xrd+xml")
    link = ET.fromstring(r.text.split("\n", 1)[1])[0]
    assert link.get("rel") == "lrdd"
    assert link.get("template") == f"{live.base_url}/.well-known/webfinger?resource={{uri}}"


async def test_nodeinfo_is_discoverable_and_honest(live: Live) -> None:
    d = await live.discussions.create(slug="een", title="Een", body="b", lang="nl")
    await live.discussions.create(slug="twee", title="Twee", body="b", lang="nl")
    await add_replies(live.store, d, 3)
    links = (await live.client.get("/.well-known/nodeinfo")).json()["links"]
    assert [link["rel"].rsplit("/", 1)[1] for link in links] == ["2.0", "2.1"]
    for link in links:
        r = await live.client.get(link["href"].removeprefix(live.base_url))
        assert r.status_code == 200
        version = link["rel"].rsplit("/", 1)[1]
        assert r.headers["content-type"].startswith("application/json; profile=")
        doc = r.json()
        assert doc["version"] == version
        assert doc["software"]["name"] == "fedi-forum"
        assert doc["protocols"] == ["activitypub"]
        assert doc["usage"]["localPosts"] == 2
        assert doc["usage"]["users"]["total"] == 0
        assert doc["metadata"]["discussions"] == 2
        assert doc["metadata"]["replies"] == 3
        assert doc["openRegistrations"] is False
    assert (await live.client.get("/nodeinfo/9.9")).status_code == 404
