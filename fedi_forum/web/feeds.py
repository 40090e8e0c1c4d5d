"""RSS 2.0 and Atom feeds, per discussion and instance-wide: newest first, capped."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import NotFound
from fedi_forum.models import Discussion, Note, utcnow
from fedi_forum.web import activitypub as ap
from fedi_forum.web.pages import choose_language, display_author
from fedi_forum.web.state import Services, services

FEED_SIZE = 50
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def _entries(svc: Services, rows: list[tuple[Discussion, Note]]) -> list[dict[str, Any]]:
    entries = []
    for d, note in rows:
        author = display_author(svc, d, note)
        who = author.name or author.handle
        title = d.title if note.seq == 0 else f"#{note.seq} {who} – {d.title}"
        entries.append(
            {
                "note": note,
                "author": author,
                "title": title,
                "link": ap.page_url_for(svc, d, note.seq),
            }
        )
    return entries


def _feed(request: Request, kind: str, context: dict[str, Any]) -> Response:
    svc = services(request)
    if kind not in MEDIA_TYPES:
        raise NotFound(f"no feed kind {kind!r}")
    lang = choose_language(request, svc.settings.default_lang)
    body = svc.renderer.render(lang, f"feed.{kind}.xml", updated=utcnow(), **context)
    return Response(body, media_type=f"{MEDIA_TYPES[kind]}; charset=utf-8")


async def discussion_feed(request: Request) -> Response:
    svc = services(request)
    d = await ap.load_discussion(svc, request.path_params["slug"])
    kind = request.path_params["kind"]
    rows = await svc.store.latest_notes(FEED_SIZE, discussion_id=d.id)
    self_url = svc.urls.feed_rss(d.slug) if kind == "rss" else svc.urls.feed_atom(d.slug)
    return _feed(
        request,
        kind,
        {
            "title": d.title,
            "description": d.summary or d.title,
            "link": svc.urls.group(d.slug),
            "self_url": self_url,
            "feed_id": svc.urls.group(d.slug),
            "entries": _entries(svc, rows),
        },
    )


async def instance_feed(request: Request) -> Response:
    svc = services(request)
    kind = request.path_params["kind"]
    rows = await svc.store.latest_notes(FEED_SIZE)
    self_url = svc.urls.instance_feed_rss if kind == "rss" else svc.urls.instance_feed_atom
    return _feed(
        request,
        kind,
        {
            "title": svc.settings.instance_name,
            "description": svc.settings.instance_name,
            "link": svc.urls.base + "/",
            "self_url": self_url,
            "feed_id": svc.urls.base + "/",
            "entries": _entries(svc, rows),
        },
    )
