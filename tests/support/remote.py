"""A fake *remote* fediverse server, served for real on 127.0.0.1 (the outside world is
the only thing tests fake). It publishes actors with real RSA keys (Mastodon-style
``#main-key`` or GoToSocial-style ``/main-key`` stubs), WebFinger and notes, records
what is delivered to its inboxes, and signs what it sends with its actors' keys."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fedi_forum.activitypub import keys
from fedi_forum.activitypub.signatures import sign_request
from tests.support.follower import verify_delivery
from tests.support.live import live_server

AS2 = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_KEY_POOL: list[rsa.RSAPrivateKey] = []


def pooled_key(i: int) -> rsa.RSAPrivateKey:
    """RSA generation is slow; tests share a few real keys. Generated here, not through
    ``keys.generate_private_key`` (which conftest points at the pool of our own keys), so
    a remote actor's key is never one of ours."""
    while len(_KEY_POOL) <= i:
        _KEY_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=keys.KEY_BITS))
    return _KEY_POOL[i]


@dataclasses.dataclass
class RemoteActor:
    server: RemoteServer
    name: str
    key: rsa.RSAPrivateKey
    style: str = "mastodon"  # or "gotosocial" (keyId …/main-key, hs2019)
    type: str = "Person"
    path: str = ""  # e.g. "/u/lemmy_alpha", "/?author=1"; default /users/{name}

    @property
    def id(self) -> str:
        return f"{self.server.base_url}{self.path or f'/users/{self.name}'}"

    @property
    def key_id(self) -> str:
        return f"{self.id}/main-key" if self.style == "gotosocial" else f"{self.id}#main-key"

    @property
    def followers(self) -> str:
        return f"{self.id}/followers"

    def document(self) -> dict[str, Any]:
        pem = keys.public_pem(self.key)
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.id,
            "type": self.type,
            "preferredUsername": self.name,
            "name": self.name.title(),
            "inbox": f"{self.server.base_url}/users/{self.name}/inbox",
            "outbox": f"{self.id}/outbox",
            "followers": self.followers,
            "url": f"{self.server.base_url}/@{self.name}",
            "icon": {"type": "Image", "url": f"{self.server.base_url}/avatars/{self.name}.png"},
            "endpoints": {"sharedInbox": f"{self.server.base_url}/inbox"},
            "publicKey": {"id": self.key_id, "owner": self.id, "publicKeyPem": pem},
        }

    def note(
        self,
        text: str,
        *,
        in_reply_to: str | None = None,
        to: list[str] | None = None,
        cc: list[str] | None = None,
        mention: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        n = next(self.server.counter)
        note_id = f"{self.id}/statuses/{n}"
        tag = [{"type": "Mention", "href": mention, "name": "@group"}] if mention else []
        note = {
            "id": note_id,
            "type": "Note",
            "attributedTo": self.id,
            "content": f"<p>{text}</p>",
            "published": "2026-11-28T10:00:00Z",
            "inReplyTo": in_reply_to,
            "to": to if to is not None else [PUBLIC],
            "cc": cc if cc is not None else [self.followers] + ([mention] if mention else []),
            "tag": tag,
            "url": f"{self.server.base_url}/@{self.name}/{n}",
            **extra,
        }
        self.server.objects[note_id] = {"@context": "https://www.w3.org/ns/activitystreams", **note}
        return note

    def create(self, note: dict[str, Any]) -> dict[str, Any]:
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{note['id']}/activity",
            "type": "Create",
            "actor": self.id,
            "published": note.get("published"),
            "to": note.get("to"),
            "cc": note.get("cc"),
            "object": note,
        }

    def activity(self, type_: str, obj: Any, **extra: Any) -> dict[str, Any]:
        n = next(self.server.counter)
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.id}#{type_.lower()}s/{n}",
            "type": type_,
            "actor": self.id,
            "object": obj,
            **extra,
        }

    def signed_headers(self, url: str, body: bytes) -> dict[str, str]:
        headers = sign_request(
            method="POST", url=url, key_id=self.key_id, private_key=self.key, body=body
        )
        if self.style == "gotosocial":
            headers["signature"] = headers["signature"].replace("rsa-sha256", "hs2019")
        return headers

    async def post(
        self,
        client: httpx.AsyncClient,
        url: str,
        activity: dict[str, Any] | bytes,
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = activity if isinstance(activity, bytes) else orjson.dumps(activity)
        all_headers = self.signed_headers(url, body) | (headers or {})
        return await client.post(url, content=body, headers=all_headers)


class RemoteServer:
    def __init__(self) -> None:
        self.base_url = ""
        self.actors: dict[str, RemoteActor] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.fetches: list[str] = []
        self.counter = itertools.count(1)
        self.gone: set[str] = set()
        # path → (status, headers, body) for anything a test wants to serve under /x/
        self.custom: dict[str, tuple[int, dict[str, str], bytes]] = {}
        # delivery side: what the inbox answers (a queue, then `inbox_status`), how slowly,
        # which software NodeInfo claims, and the verified deliveries (signer, path, doc)
        self.inbox_status = 202
        self.inbox_queue: list[tuple[int, dict[str, str]]] = []
        self.inbox_delay = 0.0
        self.inbox_now = 0  # deliveries being answered at this moment
        # a delivery whose body holds one of these is not answered until the marker is
        # removed, then refused unprocessed (a server hung on one activity, as a real
        # forum server hung on its own Announce{Delete})
        self.hang_on: set[str] = set()
        self.hang_retry_after: str | None = None  # the Retry-After of that refusal
        self.software = "mastodon"
        self.software_version = "4.3.0"
        self.delivered: list[tuple[str, str, dict[str, Any]]] = []
        self.rejected: list[str] = []
        self.key_cache: dict[str, tuple[str, str]] = {}
        # remote interaction templates its WebFinger advertises (rel → template)
        self.templates: dict[str, str] = {}
        self.accept_rfc9421 = True  # False: answers 401 to RFC 9421, like Mastodon < 4.4
        self.actor_status: int | None = None  # set: every actor fetch gets it (down: 503)

    def actor(
        self,
        name: str,
        *,
        style: str = "mastodon",
        key_index: int = 0,
        type_: str = "Person",
        path: str = "",
    ) -> RemoteActor:
        actor = RemoteActor(self, name, pooled_key(key_index), style, type_, path)
        self.actors[name] = actor
        return actor

    def app(self) -> Starlette:
        async def get_actor(request: Request) -> Response:
            self.fetches.append(str(request.url))
            if self.actor_status is not None:
                return Response(status_code=self.actor_status)
            name = request.path_params["name"]
            if name in self.gone:
                return Response(status_code=410)
            actor = self.actors.get(name)
            if actor is None:
                return Response(status_code=404)
            return Response(orjson.dumps(actor.document()), media_type=AS2)

        async def get_key(request: Request) -> Response:
            """GoToSocial's stub: the key, inside a minimal actor document."""
            self.fetches.append(str(request.url))
            actor = self.actors[request.path_params["name"]]
            doc = actor.document()
            stub = {k: doc[k] for k in ("@context", "id", "type", "preferredUsername", "publicKey")}
            return Response(orjson.dumps(stub), media_type=AS2)

        async def get_object(request: Request) -> Response:
            self.fetches.append(str(request.url))
            url = f"{self.base_url}{request.url.path}"
            if url not in self.objects:
                return Response(status_code=404)
            return Response(orjson.dumps(self.objects[url]), media_type=AS2)

        async def webfinger(request: Request) -> Response:
            resource = request.query_params.get("resource", "")
            name = resource.removeprefix("acct:").split("@")[0]
            if name not in self.actors:
                return Response(status_code=404)
            links = [{"rel": "self", "type": AS2, "href": self.actors[name].id}]
            links += [{"rel": rel, "template": t} for rel, t in self.templates.items()]
            return Response(
                orjson.dumps({"subject": resource, "links": links}),
                media_type="application/jrd+json",
            )

        async def inbox(request: Request) -> Response:
            body = await request.body()
            self.received.append((request.url.path, dict(request.headers), body))
            if any(marker.encode() in body for marker in self.hang_on):
                while any(marker.encode() in body for marker in self.hang_on):
                    await asyncio.sleep(0.05)  # until the marker is cleared (or we stop)
                # a hung request was never processed
                retry = {"retry-after": self.hang_retry_after} if self.hang_retry_after else {}
                return Response(status_code=503, headers=retry)
            if self.inbox_delay:
                self.inbox_now += 1
                try:
                    await asyncio.sleep(self.inbox_delay)
                finally:
                    self.inbox_now -= 1
            if "signature-input" in request.headers and not self.accept_rfc9421:
                return Response(status_code=401)  # like Mastodon before 4.4
            status, headers = (
                self.inbox_queue.pop(0) if self.inbox_queue else (self.inbox_status, {})
            )
            if status < 300:
                try:
                    public_url = f"{self.base_url}{request.url.path}"
                    signer = await verify_delivery(
                        "POST",
                        request.url.path,
                        dict(request.headers),
                        body,
                        self.key_cache,
                        public_url,
                    )
                except Exception as exc:
                    self.rejected.append(repr(exc))
                    return Response(status_code=401)
                self.delivered.append((signer, request.url.path, orjson.loads(body)))
            return Response(status_code=status, headers=headers)

        async def nodeinfo_links(_request: Request) -> Response:
            return Response(
                orjson.dumps(
                    {
                        "links": [
                            {
                                "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                                "href": f"{self.base_url}/nodeinfo/2.0",
                            }
                        ]
                    }
                ),
                media_type="application/json",
            )

        async def nodeinfo(_request: Request) -> Response:
            return Response(
                orjson.dumps(
                    {
                        "version": "2.0",
                        "software": {"name": self.software, "version": self.software_version},
                        "protocols": ["activitypub"],
                    }
                ),
                media_type="application/json",
            )

        async def by_url(request: Request) -> Response:
            """Actors with their own paths (Lemmy /u/x, NodeBB /uid/7, WordPress /?author=1)."""
            self.fetches.append(str(request.url))
            url = f"{self.base_url}{request.url.path}"
            if request.url.query:
                url += f"?{request.url.query}"
            for actor in self.actors.values():
                if actor.id == url:
                    return Response(orjson.dumps(actor.document()), media_type=AS2)
            if url in self.objects:
                return Response(orjson.dumps(self.objects[url]), media_type=AS2)
            return Response(status_code=404)

        async def custom(request: Request) -> Response:
            self.fetches.append(str(request.url))
            status, headers, body = self.custom.get(request.url.path, (404, {}, b""))
            return Response(body, status_code=status, headers=headers)

        return Starlette(
            routes=[
                Route("/x/{rest:path}", custom),
                Route("/users/{name}", get_actor),
                Route("/users/{name}/main-key", get_key),
                Route("/users/{name}/statuses/{n}", get_object),
                Route("/.well-known/webfinger", webfinger),
                Route("/.well-known/nodeinfo", nodeinfo_links),
                Route("/nodeinfo/2.0", nodeinfo),
                Route("/inbox", inbox, methods=["POST"]),
                Route("/users/{name}/inbox", inbox, methods=["POST"]),
                Route("/{rest:path}", by_url),
            ]
        )


@contextlib.asynccontextmanager
async def remote_server() -> AsyncIterator[RemoteServer]:
    server = RemoteServer()

    def make(base_url: str) -> Starlette:
        server.base_url = base_url
        return server.app()

    async with live_server(make):
        try:
            yield server
        finally:
            server.hang_on.clear()  # let hung requests end, so the server can stop


def rfc9421_headers(actor: RemoteActor, url: str, body: bytes) -> dict[str, str]:
    """Sign as Mastodon 4.5 / Fedify do with RFC 9421 (an independent library signs)."""
    from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

    class Message:
        method = "POST"

        def __init__(self) -> None:
            self.url = url
            self.headers: dict[str, str] = {"content-type": AS2}

    message = Message()
    HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256,
        key_resolver=MappingKeyResolver(private_keys={actor.key_id: actor.key}, public_keys={}),
    ).sign(
        message,
        key_id=actor.key_id,
        label="sig1",
        covered_component_ids=("@method", "@target-uri", "@authority", "content-type"),
        body=body,
    )
    return {k.lower(): v for k, v in message.headers.items()}
