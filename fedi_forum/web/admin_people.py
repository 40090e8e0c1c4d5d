"""/admin for the people who moderate: the staff list (disable, enable), the audit
log of who did what, and one's own name and password."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import Forbidden, InvalidInput, NotFound
from fedi_forum.forum.staff import Session
from fedi_forum.web.admin import (
    audit,
    back_to,
    confirm_first,
    gettext,
    staff_only,
    to_login,
)
from fedi_forum.web.pages import render
from fedi_forum.web.pagination import cursor
from fedi_forum.web.state import services


@staff_only("admin")
async def staff_page(request: Request, session: Session, _form: FormData | None) -> Response:
    members = await services(request).store.staff_members()
    return render(request, "admin/staff.html", session=session, members=members)


@staff_only("admin")
async def staff_action(request: Request, session: Session, form: FormData | None) -> Response:
    """Disable (asking first) or enable another staff member's account."""
    assert form is not None
    svc = services(request)
    username, action = request.path_params["username"], request.path_params["action"]
    if action not in ("disable", "enable"):  # a closed set
        raise NotFound(f"no action {action!r}")
    if username == session.username:
        raise Forbidden("own account", public_message="not your own account")
    if action == "disable":
        ask = confirm_first(
            request,
            session,
            form,
            question=gettext(request, "Disable the account of %(name)s?") % {"name": username},
            effects=[
                gettext(request, "They are logged out everywhere and cannot log in."),
                gettext(request, "Their replies stay, under their name."),
            ],
            button=gettext(request, "Disable it"),
        )
        if ask is not None:
            return ask
    await svc.staff.set_disabled(username, action == "disable")
    await audit(request, session, f"staff {action}", username)
    return back_to(request, form)


AUDIT_PAGE = 50


@staff_only("admin")
async def audit_page(request: Request, session: Session, _form: FormData | None) -> Response:
    """Which staff member did what, newest first (administrators only)."""
    svc = services(request)
    entries = await svc.store.audit_log(AUDIT_PAGE, cursor(request.query_params, "before"))
    older = f"?before={entries[-1].id}" if len(entries) == AUDIT_PAGE else None
    return render(request, "admin/audit.html", session=session, entries=entries, older=older)


@staff_only()
async def account(request: Request, session: Session, form: FormData | None) -> Response:
    """The signed-in staff member's own name and password."""
    svc = services(request)
    error, saved = None, False
    if form is not None:
        change = form.get("change")
        try:
            if change == "name":
                await svc.staff.set_display_name(
                    session.username, str(form.get("display_name", ""))
                )
                await audit(request, session, "own name", session.username)
                saved = True
            elif change == "password":  # every session ends, this one too
                await svc.staff.change_own_password(
                    session, str(form.get("current", "")), str(form.get("new", ""))
                )
                await audit(request, session, "own password", session.username)
                return to_login(request)
            else:  # a closed set: anything else is not a change we know
                raise NotFound(f"unknown account change {change!r}")
        except (InvalidInput, Forbidden) as exc:
            error = exc.public_message
    member = await svc.store.staff(session.username)
    if member is None:
        return to_login(request)
    status = 400 if error else 200
    return render(
        request,
        "admin/account.html",
        status=status,
        session=session,
        member=member,
        error=error,
        saved=saved,
    )
