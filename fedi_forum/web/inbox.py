"""POST /inbox and /d/{slug}/inbox: the cheap checks first (docs/rules.md §9),
then the signature, then the forum. Answers 202 only after the activity is stored."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.activitypub import parse, signatures
from fedi_forum.errors import (
    FediForumError,
    NotFound,
    RequestTimeout,
    RequestTooLarge,
    UnsupportedMediaType,
)
from fedi_forum.models import SLUG_RE
from fedi_forum.web.admission import outside_admission
from fedi_forum.web.forms import read_deadline
from fedi_forum.web.state import Services, client_address, services

MAX_BODY = 1024 * 1024
SLOW_BODY_COST = 25.0  # inbox tokens a body that misses its deadline costs its sender
AS_PROFILE = "https://www.w3.org/ns/activitystreams"


def _check_content_type(value: str) -> None:
    mime, _, params = value.partition(";")
    mime = mime.strip().lower()
    if mime == "application/activity+json":
        return
    if mime == "application/ld+json" and AS_PROFILE in params:
        return
    raise UnsupportedMediaType(
        f"content type {value!r}", public_message="expected application/activity+json"
    )


async def _read_capped(request: Request) -> bytes:
    """The body, streamed, never more than MAX_BODY bytes in memory."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        raise RequestTooLarge(f"Content-Length {length}")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestTooLarge("body over the cap")
        chunks.append(chunk)
    return b"".join(chunks)


def header_fields(headers: Headers) -> dict[str, str]:
    """The request's header fields as a signature covers them: a field sent on several
    lines is one value joined with ", " (RFC 9110 §5.3; draft-cavage and RFC 9421 sign
    it so). One pass: a ``getlist`` per name was 10 µs a request, this 4. Repeats are
    joined once at the end: joined as they came, 8,000 lines of one name took 0.5 s."""
    fields: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for name, value in headers.items():  # attacker-controlled names and values
        if name in fields:
            repeated.setdefault(name, [fields[name]]).append(value)
        else:
            fields[name] = value
    for name, values in repeated.items():
        fields[name] = ", ".join(values)
    return fields


def _public_url(svc: Services, request: Request) -> str:
    """What the sender signed: our public origin + the raw path and query as sent."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{svc.settings.base_url}{path}" + (f"?{query}" if query else "")


async def inbox(request: Request) -> Response:
    svc = services(request)
    try:
        return await _receive(request, svc)
    except FediForumError as exc:
        svc.metrics.inbox_refused(exc.status)
        raise


async def _receive(request: Request, svc: Services) -> Response:
    slug = request.path_params.get("slug")  # None for the shared and the staff inboxes
    client = client_address(request)
    svc.inbox_by_client.take(client)
    _check_content_type(request.headers.get("content-type", ""))
    try:
        async with read_deadline(request):
            body = await _read_capped(request)
    except RequestTimeout:
        svc.inbox_by_client.penalise(client, SLOW_BODY_COST)  # slowloris costs its sender
        raise
    activity = parse.parse_activity(parse.loads(body))
    if slug is not None and not SLUG_RE.fullmatch(slug.lower()):
        raise NotFound(f"no discussion {slug!r}")  # unknown slugs: the forum says 404
    await svc.blocklist.maybe_reload()
    svc.blocklist.check_url(activity.actor)
    if await svc.inbox.is_unknown_actor_goodbye(activity):
        svc.metrics.inbox_outcome("ignored")
        return Response(status_code=202)  # before any signature work or fetch
    signer = await svc.keys.verify(
        signatures.Request(
            request.method, _public_url(svc, request), header_fields(request.headers), body
        ),
        while_fetching=lambda: outside_admission(request.scope),
    )
    svc.inbox_by_server.take(signer.actor.host)  # after the signature: not spoofable
    outcome = await svc.inbox.receive(activity, signer, slug.lower() if slug else None)
    svc.metrics.inbox_outcome(outcome.result)
    if svc.delivery is not None:
        svc.delivery.wake()  # anything it queued goes out now, not at the next poll
    return Response(status_code=202)
