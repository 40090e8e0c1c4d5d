"""A follower's side of delivery, written for the tests and sharing no code with ours:
it checks our draft-cavage signatures the way a Mastodon-like receiver does, with its
own parsing, its own key fetch (plain httpx GET of our actor) and ``cryptography``."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def _params(header: str) -> dict[str, str]:
    out = {}
    for part in header.split('",'):
        name, _, value = part.partition("=")
        out[name.strip()] = value.strip().strip('"')
    return out


async def _key(key_id: str, cache: dict[str, tuple[str, str]]) -> tuple[str, str]:
    if key_id not in cache:
        async with httpx.AsyncClient() as client:
            url = key_id.split("#")[0]
            actor = (await client.get(url, headers={"Accept": "application/activity+json"})).json()
        assert actor["publicKey"]["id"] == key_id, "keyId is not the actor's key"
        cache[key_id] = (actor["id"], actor["publicKey"]["publicKeyPem"])
    return cache[key_id]


async def _verify_rfc9421(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    key_cache: dict[str, tuple[str, str]] | None,
) -> str:
    """RFC 9421 with the http-message-signatures library (not our verifier)."""
    from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms

    key_id = headers["signature-input"].split('keyid="', 1)[1].split('"', 1)[0]
    actor_id, pem = await _key(key_id, key_cache if key_cache is not None else {})

    class Message:
        pass

    message = Message()
    message.method, message.url, message.headers = method, url, headers  # type: ignore[attr-defined]
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(
            public_keys={key_id: _rsa_public(pem)},
            private_keys={},
        ),
    )
    verifier.max_clock_skew = timedelta(minutes=5)
    verifier.verify(
        message, require_components=("@method", "@target-uri", "content-digest"), body=body
    )
    return actor_id


async def verify_delivery(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    key_cache: dict[str, tuple[str, str]] | None = None,
    url: str = "",
) -> str:
    """Return the signing actor's id, or raise AssertionError saying what is wrong.

    Keys are cached per keyId, as real servers do (which is how a Delete of an actor
    that now answers 410 can still be verified)."""
    if "signature-input" in headers:
        return await _verify_rfc9421(method, url, headers, body, key_cache)
    params = _params(headers["signature"])
    assert params["algorithm"] in ("rsa-sha256", "hs2019"), params
    names = params["headers"].split()
    for required in ("(request-target)", "host", "date", "digest"):
        assert required in names, f"{required} not signed"
    expected = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["digest"] == expected, "digest does not match the body"
    age = datetime.now(UTC) - parsedate_to_datetime(headers["date"])
    assert abs(age.total_seconds()) < 3600, "stale Date"
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            lines.append(f"{name}: {headers[name]}")
    key_id = params["keyId"]
    actor_id, pem = await _key(key_id, key_cache if key_cache is not None else {})
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(
        base64.b64decode(params["signature"]),
        "\n".join(lines).encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return actor_id


def _rsa_public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key
