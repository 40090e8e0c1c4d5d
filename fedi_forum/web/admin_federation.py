"""/admin for federation (administrators): health per server, following discussions
elsewhere, sending set-aside deliveries again, a server's dialect."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import InvalidInput, NotFound
from fedi_forum.forum.staff import Session
from fedi_forum.models import Dialect, utcnow
from fedi_forum.web.admin import (
    redirect_to,
    staff_only,
)
from fedi_forum.web.pages import render
from fedi_forum.web.state import services


@staff_only("admin")
async def federation(request: Request, session: Session, _form: FormData | None) -> Response:
    store = services(request).store
    health = await store.federation_health()
    followed = await store.remote_groups()
    return render(request, "admin/federation.html", session=session, followed=followed, **health)


@staff_only("admin")
async def remote_follow(request: Request, _session: Session, form: FormData | None) -> Response:
    """Follow (or stop following) a discussion on another server, by handle."""
    assert form is not None
    remote = services(request).remote
    handle = str(form.get("handle", ""))
    action = request.path_params["action"]
    if action == "follow":
        await remote.follow(handle)
    elif action == "unfollow":
        await remote.unfollow(handle)
    else:
        raise NotFound(f"no action {action!r}")
    return redirect_to(request, "admin_federation", "#following")


@staff_only("admin")
async def retry_deliveries(request: Request, _session: Session, form: FormData | None) -> Response:
    """Send set-aside deliveries again: the one named (``id``), or all (``all``)."""
    assert form is not None
    raw = str(form.get("id", ""))
    ids = None if form.get("all") == "1" else [int(raw)] if raw.isdigit() else []
    if ids == []:
        raise InvalidInput("no delivery named", public_message="no delivery named")
    svc = services(request)
    await svc.store.retry_deliveries(ids, utcnow())
    if svc.delivery is not None:
        svc.delivery.wake()
    return redirect_to(request, "admin_federation", "#aside")


@staff_only("admin")
async def set_dialect(request: Request, _session: Session, form: FormData | None) -> Response:
    """Override how a server is spoken to (its NodeInfo guess can be wrong)."""
    assert form is not None
    dialect = str(form.get("dialect", ""))
    await services(request).store.set_dialect_override(
        request.path_params["host"], dialect if dialect in set(Dialect) else None
    )
    return redirect_to(request, "admin_federation")
