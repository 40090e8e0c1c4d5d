"""Public moderation pages: "report a problem" on every message, and the moderation log
(page and RSS)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import Forbidden, InvalidInput, NotFound
from fedi_forum.forum.moderation import REASONS
from fedi_forum.models import NoteState, utcnow
from fedi_forum.web import activitypub as ap
from fedi_forum.web.forms import read_form
from fedi_forum.web.pages import choose_language, display_author, local_authors_of, render
from fedi_forum.web.state import client_address, require_discussion, services

MAX_FORM = 8 * 1024
MAX_COMMENT = 2000


async def report(request: Request) -> Response:
    """GET: the form. POST: a report into the moderators' queue. No account needed;
    rate-limited per client, a honeypot field for bots, contact optional."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    seq: int = request.path_params["seq"]
    note = await svc.store.note(d.id, seq)
    if note is None or seq == 0 or note.state is not NoteState.VISIBLE:
        raise NotFound(f"no reply {seq}")
    context: dict[str, Any] = {
        "discussion": d,
        "note": note,
        "author": display_author(
            svc,
            d,
            note,
            await local_authors_of(svc, [note]),
            choose_language(request, svc.settings.default_lang),
        ),
        "reasons": REASONS,
        "back": ap.page_url_for(svc, d, seq),
    }
    if request.method == "GET":
        return render(request, "report.html", **context)
    origin = request.headers.get("origin")
    if origin and origin != svc.settings.base_url:  # a cross-site POST: not from our page
        raise Forbidden(f"report posted from {origin}")
    form = await read_form(request, max_bytes=MAX_FORM, max_fields=10)
    if form.get("website"):  # the honeypot: people never see it, bots fill it in
        return render(request, "report.html", sent=True, **context)
    client = client_address(request)
    await svc.report_limiter.hit(client)
    reason = str(form.get("reason", ""))
    comment = str(form.get("comment", "")).strip()
    contact = str(form.get("contact", "")).strip()[:200] or None
    if reason not in REASONS or len(comment) > MAX_COMMENT:
        raise InvalidInput(
            "bad report form", public_message="choose a reason; at most 2000 characters"
        )
    await svc.store.add_form_report(
        discussion_id=d.id,
        note_id=note.ap_id,
        comment=f"[{reason}] {comment}",
        contact=contact,
        now=utcnow(),
    )
    return render(request, "report.html", sent=True, **context)


async def modlog(request: Request) -> Response:
    svc = services(request)
    entries = await svc.store.modlog(limit=200)
    if request.path_params.get("kind") == "rss":
        lang = choose_language(request, svc.settings.default_lang)
        body = svc.renderer.render(
            lang,
            "modlog.rss.xml",
            entries=entries,
            urls=svc.urls,
            settings=svc.settings,
            updated=utcnow(),
        )
        return Response(body, media_type="application/rss+xml; charset=utf-8")
    return render(request, "modlog.html", entries=entries)
