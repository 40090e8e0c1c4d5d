"""ActivityPub GET routes of a discussion: actor, collections, notes. Thin: parse, one
store call, respond. (The inbox routes arrive with the inbox issue.)"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fedi_forum.activitypub import actors, vocab
from fedi_forum.errors import NotFound
from fedi_forum.forum.members import member_document, staff_document
from fedi_forum.models import Discussion, NoteState, discussion_fields_except
from fedi_forum.web.negotiation import activity_response, preferred_representation
from fedi_forum.web.pagination import cursor, is_page_request, place_of
from fedi_forum.web.state import Services, require_discussion, services

PAGE_SIZE = 20
CONTEXT_PAGE_SIZE = 100
GROUP_SHOWS = discussion_fields_except(
    "views", "last_activity_at", "revision", "last_seq", "reply_count"
)


def tombstone(object_id: str, former_type: str, deleted: str) -> Response:
    return activity_response(vocab.tombstone(object_id, former_type, deleted), status=410)


async def group_actor(request: Request, svc: Services) -> Response:
    """Called by the page route when the client asked for AS2."""
    slug = request.path_params["slug"]
    discussion = await svc.store.shown_discussion(slug)
    if discussion is None:
        raise NotFound(f"no discussion {slug!r}")
    if discussion.is_deleted:
        return tombstone(svc.urls.group(discussion.slug), "Group", discussion.updated_at)
    # Fetched by every follower's server after each Announce: serialised once per
    # version of the discussion (its counters, which the document does not show, aside).
    key = ("group", GROUP_SHOWS(discussion))
    return activity_response(
        svc.renderer.kept_document(
            key, lambda: orjson.dumps(svc.discussions.group_document(discussion))
        )
    )


async def instance_actor(request: Request) -> Response:
    svc = services(request)
    return activity_response(
        actors.instance_actor(
            svc.urls,
            domain=svc.settings.domain,
            name=svc.settings.instance_name,
            public_key_pem=svc.instance_public_key_pem,
        )
    )


async def outbox(request: Request) -> Response:
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    base = svc.urls.outbox(d.slug)
    if not is_page_request(request.query_params):
        total = await svc.store.outbox_count(d.id)
        return activity_response(
            vocab.ordered_collection(
                base, total=total, first=f"{base}?page=true", last=f"{base}?page=true&min_id=0"
            )
        )
    # Pages change only with the discussion's revision (bumped by every outbox entry).
    key = ("outbox", d.id, d.revision, request.url.query)
    cached = svc.renderer.document(key)
    if cached is not None:
        return activity_response(cached)
    max_id = cursor(request.query_params, "max_id")
    min_id = cursor(request.query_params, "min_id")
    items = await svc.store.outbox_page(d.id, before=max_id, after=min_id, limit=PAGE_SIZE)
    # Newest first. A page read downwards (max_id) is short only at the oldest end; one
    # read upwards (min_id) only at the newest end.
    full = len(items) == PAGE_SIZE
    has_older = bool(items) and (full if min_id is None else True)
    has_newer = bool(items) and (max_id is not None if min_id is None else full)
    doc = vocab.ordered_collection_page(
        f"{base}?{request.url.query}",
        part_of=base,
        items=[orjson.Fragment(item.json) for item in items],
        next_page=f"{base}?page=true&max_id={items[-1].cursor}" if has_older else None,
        prev_page=f"{base}?page=true&min_id={items[0].cursor}" if has_newer else None,
    )
    body = orjson.dumps(doc)
    svc.renderer.keep_document(key, body)
    return activity_response(body)


async def followers(request: Request) -> Response:
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    base = svc.urls.followers(d.slug)
    if not is_page_request(request.query_params):
        total = await svc.store.followers_count(d.id)
        return activity_response(
            vocab.ordered_collection(base, total=total, first=f"{base}?page=true")
        )
    after = cursor(request.query_params, "min_id") or 0
    rows = await svc.store.followers_page(d.id, after, PAGE_SIZE)
    next_page = f"{base}?page=true&min_id={rows[-1][0]}" if len(rows) == PAGE_SIZE else None
    return activity_response(
        vocab.ordered_collection_page(
            f"{base}?{request.url.query}",
            part_of=base,
            items=[actor for _, actor in rows],
            next_page=next_page,
            prev_page=None,
        )
    )


async def following(request: Request) -> Response:
    """Groups follow nobody; the collection exists because Mastodon links it."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    return activity_response(
        vocab.ordered_collection(svc.urls.following(d.slug), total=0, first=None, items=[])
    )


async def featured(request: Request) -> Response:
    """The opening post, embedded, so Mastodon shows it pinned on the group's profile."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    raw = await svc.store.note_raw(d.id, 0)
    items = [] if raw is None else [embedded(raw)]
    return activity_response(
        vocab.ordered_collection(
            svc.urls.featured(d.slug), total=len(items), first=None, items=items
        )
    )


def embedded(raw: bytes | str) -> dict[str, Any]:
    """A stored document, to embed in a collection (its ``@context`` is the collection's)."""
    doc: dict[str, Any] = orjson.loads(raw)
    doc.pop("@context", None)
    return doc


def _etag(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


async def context(request: Request) -> Response:
    """FEP-7888/f228: every accepted note of the discussion, oldest first.

    Servers poll this to backfill threads, so it carries an ETag (changes with every
    accepted, edited or deleted note) and answers 304 to a matching If-None-Match.
    """
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    base = svc.urls.context(d.slug)
    etag = _etag(d.id, d.revision, d.last_seq, request.url.query)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={**headers, "Vary": "Accept"})
    group_id = svc.urls.group(d.slug)
    if not is_page_request(request.query_params):
        rows = await svc.store.context_page(d.id, -1, CONTEXT_PAGE_SIZE + 1)
        if len(rows) <= CONTEXT_PAGE_SIZE:  # small: inline, saves the follow-up request
            doc = vocab.ordered_collection(
                base,
                total=len(rows),
                first=None,
                items=[ap_id for _, ap_id in rows],
                group=group_id,
            )
        else:
            doc = vocab.ordered_collection(
                base,
                total=await svc.store.context_count(d.id),
                first=f"{base}?page=true",
                group=group_id,
            )
        return activity_response(doc, headers=headers)
    key = ("context", d.id, d.revision, request.url.query)  # the ETag's inputs
    body = svc.renderer.document(key)
    if body is None:
        after = cursor(request.query_params, "min_id")
        rows = await svc.store.context_page(d.id, -1 if after is None else after, CONTEXT_PAGE_SIZE)
        full = len(rows) == CONTEXT_PAGE_SIZE
        body = orjson.dumps(
            vocab.ordered_collection_page(
                f"{base}?{request.url.query}",
                part_of=base,
                items=[ap_id for _, ap_id in rows],
                next_page=f"{base}?page=true&min_id={rows[-1][0]}" if full else None,
                prev_page=None,
            )
        )
        svc.renderer.keep_document(key, body)
    return activity_response(body, headers=headers)


async def note(request: Request) -> Response:
    """A message. AS2 for our own notes; browsers go to its anchor on the page."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    seq: int = request.path_params["seq"]
    as2 = preferred_representation(request.headers.get("accept")) == "as2"
    # Fetched by every server that receives its Announce: kept per version of the
    # discussion (every change to a note bumps its revision), two reads fewer.
    key = ("note", d.id, d.revision, seq)
    kept = svc.renderer.document(key) if as2 else None
    if kept is not None:
        return activity_response(kept)
    found = await svc.store.note(d.id, seq)
    if found is None or found.state is NoteState.HELD:
        raise NotFound(f"no note {seq}")
    if not as2:
        return RedirectResponse(page_url_for(svc, d, seq), status_code=302)
    if not found.is_local:
        raise NotFound("not a local note")
    if found.state is NoteState.DELETED:
        return tombstone(found.ap_id, "Note", found.updated or found.published)
    raw = await svc.store.note_raw(d.id, seq)
    if raw is None:
        raise NotFound("no stored document")
    svc.renderer.keep_document(key, raw)
    return activity_response(raw)  # stored JSON, served as is


async def note_activity(request: Request) -> Response:
    """The Create that published one of our notes, so its id dereferences too."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    activity_id = svc.urls.note_activity(d.slug, request.path_params["seq"])
    payload = await svc.store.outbox_activity(d.id, activity_id)
    if payload is None:
        raise NotFound("no such activity")
    return activity_response(payload)


async def replies(request: Request) -> Response:
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    seq: int = request.path_params["seq"]
    parent = await svc.store.note(d.id, seq)
    if parent is None or parent.state is NoteState.HELD:
        raise NotFound(f"no note {seq}")
    base = svc.urls.replies(d.slug, seq)
    after = cursor(request.query_params, "min_id")
    rows = await svc.store.replies_page(
        d.id, parent.ap_id, -1 if after is None else after, PAGE_SIZE
    )
    next_page = f"{base}?page=true&min_id={rows[-1][0]}" if len(rows) == PAGE_SIZE else None
    items = [ap_id for _, ap_id in rows]
    if not is_page_request(request.query_params):
        first = vocab.ordered_collection_page(
            f"{base}?page=true", part_of=base, items=items, next_page=next_page, prev_page=None
        )
        first.pop("@context")
        return activity_response(vocab.ordered_collection(base, total=None, first=first))
    return activity_response(
        vocab.ordered_collection_page(
            f"{base}?{request.url.query}",
            part_of=base,
            items=items,
            next_page=next_page,
            prev_page=None,
        )
    )


def page_url_for(svc: Services, d: Discussion, seq: int) -> str:
    """The HTML page holding ``seq``, at its anchor."""
    return f"{svc.urls.group(d.slug)}{place_of(seq)}"


async def staff_actor(request: Request) -> Response:
    svc = services(request)
    member = await svc.store.staff(request.path_params["username"])
    if member is None:
        raise NotFound("no such staff member")
    if preferred_representation(request.headers.get("accept")) != "as2":
        return RedirectResponse(request.app.url_path_for("about"), status_code=302)
    keyring = svc.discussions.keyring
    return activity_response(await staff_document(svc.settings, svc.urls, keyring, member))


async def discussion_image(request: Request) -> Response:
    """A discussion's own avatar or header (its URL changes with the image)."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    kind = "icon" if request.url.path.endswith("/icon") else "header"
    found = await svc.store.discussion_image(d.id, kind)
    if found is None:
        raise NotFound(f"no {kind} for {d.slug!r}")
    media_type, data = found
    return Response(
        data, media_type=media_type, headers={"Cache-Control": "public, max-age=31536000"}
    )


async def member_actor(request: Request) -> Response:
    """An author an archive import brought in (docs/ning.md): a read-only Person."""
    svc = services(request)
    member = await svc.store.member(request.path_params["handle"])
    if member is None:
        raise NotFound("no such member")
    if preferred_representation(request.headers.get("accept")) != "as2":
        return RedirectResponse(request.app.url_path_for("about"), status_code=302)
    keyring = svc.discussions.keyring
    return activity_response(await member_document(svc.settings, svc.urls, keyring, member))


async def staff_note(request: Request) -> Response:
    """A staff reply at its id: AS2 for servers, its place on the page for people."""
    svc = services(request)
    note_id = svc.urls.staff_note(request.path_params["username"], request.path_params["note"])
    found = await svc.store.local_note(note_id)
    if found is None or found[3] == "held":
        raise NotFound("no such note")
    slug, seq, raw, state = found
    if preferred_representation(request.headers.get("accept")) != "as2":
        d = await require_discussion(svc, slug)
        return RedirectResponse(page_url_for(svc, d, seq), status_code=302)
    if state == "deleted" or raw is None:
        return tombstone(svc.urls.note(slug, seq), "Note", "")
    return activity_response(raw)
