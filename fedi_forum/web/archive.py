"""What an archive import left on the web (docs/ning.md): its files, and the links of
the forum it came from, answered with a permanent redirect to the discussion or message
they named, so bookmarks, search engines and old posts elsewhere keep working once the
old domain points here."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from fedi_forum.errors import NotFound
from fedi_forum.forum.ning_archive import ning_slug
from fedi_forum.forum.ning_import import SOURCE
from fedi_forum.web.activitypub import page_url_for
from fedi_forum.web.state import Services, require_discussion, services

_NING_ID = re.compile(r"[0-9]{1,20}:[A-Za-z]{1,20}:[0-9]{1,20}")
MAX_NAME = 300


async def archive_file(request: Request) -> Response:
    svc = services(request)
    found = svc.files.find(request.path_params["path"])  # attacker-controlled path
    if found is None:
        raise NotFound("no such file")
    path, content_type, inline = found
    headers = {"Cache-Control": "public, max-age=86400"}  # nosniff: every response (guard)
    if not inline:  # documents are downloaded, never rendered from our origin
        headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return FileResponse(path, media_type=content_type, headers=headers)


async def old_topic(request: Request) -> Response:
    """``/forum/topics/{slug or id}`` (``?commentId=`` for a comment) and
    ``/profiles/blogs/{slug}``. Attacker-controlled input: only ids of Ning's shape and
    slugs normalised like Ning's are looked up."""
    svc = services(request)
    name = request.path_params["name"][:MAX_NAME]
    comment = request.query_params.get("commentId", "")
    target = None
    if _NING_ID.fullmatch(comment):
        target = await svc.store.old_link(SOURCE, source_id=comment)
    if target is None and _NING_ID.fullmatch(name):
        target = await svc.store.old_link(SOURCE, source_id=name)
    if target is None:
        target = await svc.store.old_link(SOURCE, old_slug=ning_slug(name))
    return await _moved(svc, target)


async def old_item(request: Request) -> Response:
    """``/xn/detail/{ning id}``: a topic, blog post or comment by its Ning id."""
    svc = services(request)
    name = request.path_params["name"]
    target = None
    if _NING_ID.fullmatch(name):
        target = await svc.store.old_link(SOURCE, source_id=name)
    return await _moved(svc, target)


async def _moved(svc: Services, target: tuple[str, int] | None) -> Response:
    if target is None:
        raise NotFound("nothing was imported under that address")
    slug, seq = target
    d = await require_discussion(svc, slug)
    url = svc.urls.group(d.slug) if seq == 0 else page_url_for(svc, d, seq)
    return RedirectResponse(url, status_code=301)
