"""``/d/{slug}/interact``: reply from your own server. ``/authorize_interaction``: what
our own WebFinger offers other servers for the same purpose."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fedi_forum.errors import InvalidInput, NotFound
from fedi_forum.forum.interaction import interaction_url
from fedi_forum.web import activitypub as ap
from fedi_forum.web.pages import render
from fedi_forum.web.pagination import cursor
from fedi_forum.web.state import client_address, require_discussion, services


async def interact(request: Request) -> Response:
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    seq = cursor(request.query_params, "seq") or 0
    note = await svc.store.note(d.id, seq)
    if note is None or not note.is_visible:
        raise NotFound(f"no message {seq}")
    handle = request.query_params.get("handle", "").strip()
    group_handle = f"@{d.slug}@{svc.settings.domain}"
    context: dict[str, Any] = {
        "discussion": d,
        "note_url": note.ap_id,
        "handle": handle,
        "group_handle": group_handle,
    }
    if not handle:
        return render(request, "interact.html", **context)
    await svc.interact_limiter.hit(client_address(request))
    try:
        target = await interaction_url(svc.client, svc.blocklist, handle, note.ap_id, group_handle)
    except InvalidInput:
        return render(request, "interact.html", status=400, bad_handle=True, **context)
    if target is None:
        return render(request, "interact.html", unknown=True, **context)
    if not target.same_host:  # never a blind redirect to a third site: show it first
        return render(request, "interact.html", leave_to=target.url, **context)
    return RedirectResponse(target.url, status_code=303)


async def authorize_interaction(request: Request) -> Response:
    """Others' servers send their users here (our WebFinger ``subscribe`` template) to
    interact with an object. We have no personal accounts: our own objects open on their
    page; anything else is explained."""
    svc = services(request)
    uri = request.query_params.get("uri", "")
    if uri.startswith(f"{svc.settings.base_url}/"):
        return RedirectResponse(uri, status_code=303)
    located = await svc.store.note_location(uri) if uri else None
    if located is not None:
        d = await require_discussion(svc, located[0])
        return RedirectResponse(ap.page_url_for(svc, d, located[1]), status_code=303)
    return render(
        request,
        "interact.html",
        status=404,
        no_accounts=True,
        discussion=None,
        note_url=uri,
        handle="",
        group_handle="",
    )
