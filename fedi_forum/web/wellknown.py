"""Discovery: WebFinger, host-meta and NodeInfo (docs/rules.md §4)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum import __version__
from fedi_forum.activitypub import discovery
from fedi_forum.activitypub.urls import LocalKind, Urls
from fedi_forum.errors import Gone, InvalidInput, NotFound
from fedi_forum.models import SLUG_RE
from fedi_forum.web.negotiation import CORS_HEADER, DocumentResponse
from fedi_forum.web.state import services

JRD = "application/jrd+json"
CORS = {"Access-Control-Allow-Origin": "*"}
MAX_RESOURCE = 512


MAX_HANDLE = 64  # members' handles (ning.17); longer is not ours


JRD_HEADERS = ((b"content-type", JRD.encode()), CORS_HEADER)


def _json(doc: object, media_type: str) -> Response:
    return Response(orjson.dumps(doc), media_type=media_type, headers=CORS)


def _username(resource: str, domain: str, urls: Urls) -> str:
    """The local name a WebFinger resource asks about. Attacker-controlled input."""
    ref = urls.parse(resource)
    if ref is not None:
        if ref.kind is LocalKind.INSTANCE:
            return domain
        named = resource.lower()  # the actor URL itself, in any case; nothing below it
        if ref.kind is LocalKind.GROUP and named == urls.group(ref.slug):
            return ref.slug
        if ref.kind is LocalKind.STAFF and named == urls.staff(ref.username):
            return ref.username
        if ref.kind is LocalKind.MEMBER and named == urls.member(ref.username):
            return ref.username
        if ref.kind is LocalKind.CATEGORY and named == urls.category(ref.slug):
            return ref.slug
        raise NotFound(f"not an actor: {resource!r}")
    acct = resource.removeprefix("acct:").lstrip("@")
    user, sep, host = acct.rpartition("@")
    if not sep or host.lower() != domain:
        raise NotFound(f"not our resource {resource!r}")
    return user


async def webfinger(request: Request) -> Response:
    svc = services(request)
    resource = request.query_params.get("resource", "").strip()
    if not resource or len(resource) > MAX_RESOURCE:
        raise InvalidInput("missing resource", public_message="'resource' parameter required")
    domain = svc.settings.domain
    user = _username(resource, domain, svc.urls).lower()
    if user == domain:  # the instance actor, named after the domain by convention
        actor_id = svc.urls.instance_actor
        doc = discovery.webfinger(
            f"acct:{domain}@{domain}", actor_id, f"{svc.urls.base}/about", [actor_id]
        )
        return _json(doc, JRD)
    if "." in user and len(user) <= MAX_HANDLE:  # ning.17: an imported author
        if await svc.store.member(user) is None:
            raise NotFound(f"no such user {user!r}")
        actor_id = svc.urls.member(user)
        doc = discovery.webfinger(f"acct:{user}@{domain}", actor_id, actor_id, [actor_id])
        return _json(doc, JRD)
    if not SLUG_RE.fullmatch(user):
        raise NotFound(f"no such user {user!r}")
    # what is shown, not a decision: this process's copy of the row where it keeps one
    discussion = await svc.store.shown_discussion(user)
    if discussion is None:
        if await svc.store.category(user) is not None:  # a category (docs/categories.md)
            actor_id = svc.urls.category(user)
            doc = discovery.webfinger(f"acct:{user}@{domain}", actor_id, actor_id, [actor_id])
            return _json(doc, JRD)
        if await svc.store.staff(user) is not None:  # a staff member (Person)
            actor_id = svc.urls.staff(user)
            doc = discovery.webfinger(f"acct:{user}@{domain}", actor_id, actor_id, [actor_id])
            return _json(doc, JRD)
        raise NotFound(f"no discussion {user!r}")
    if discussion.is_deleted:
        raise Gone(f"discussion {user!r} deleted")
    slug = discussion.slug

    def answer() -> bytes:
        actor_id = svc.urls.group(slug)
        return orjson.dumps(
            discovery.webfinger(f"acct:{slug}@{domain}", actor_id, actor_id, [actor_id])
        )

    # asked by every server a follower is on: the answer depends on the slug alone
    return DocumentResponse(svc.renderer.kept_document(("webfinger", slug), answer), JRD_HEADERS)


async def host_meta(request: Request) -> Response:
    svc = services(request)
    return Response(
        discovery.host_meta(svc.settings.base_url), media_type="application/xrd+xml", headers=CORS
    )


async def nodeinfo_links(request: Request) -> Response:
    return _json(discovery.nodeinfo_links(services(request).settings.base_url), "application/json")


async def nodeinfo(request: Request) -> Response:
    svc = services(request)
    version = request.path_params["version"]
    if version not in ("2.0", "2.1"):
        raise NotFound(f"no nodeinfo {version!r}")
    stats = await svc.store.stats()
    doc = discovery.nodeinfo(
        version,
        software_version=__version__,
        name=svc.settings.instance_name,
        discussions=stats.discussions,
        local_posts=stats.local_posts,
        replies=stats.replies,
    )
    profile = f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
    return _json(doc, profile)
