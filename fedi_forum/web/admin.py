"""/admin's mechanism, which every admin page shares: login with a signed HttpOnly
SameSite=Strict cookie (Secure on https), a CSRF token on every form, login rate limit
and account lockout, session expiry and logout (``staff_only``); the question before a
far-reaching action (``confirm_first``), where a form goes back to (``back_to``, a closed
set) and the audit record (``audit``); and the overview. The pages are
admin_moderation (reports, replies, blocks), admin_discussions, admin_people (staff,
audit log, own account) and admin_federation."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fedi_forum.errors import Forbidden, RateLimited
from fedi_forum.forum.staff import SESSION_SECONDS, Session
from fedi_forum.models import format_time, utcnow
from fedi_forum.web.forms import read_form
from fedi_forum.web.pages import choose_language, render
from fedi_forum.web.state import Services, client_address, services

SESSION_COOKIE = "ff_session"
# Not a credential: tells the public pages to show a "moderate" link per message (the
# session itself is sent to /admin only). Forged, it shows links that lead to the login.
STAFF_HINT_COOKIE = "ff_staff"
LOGIN_CSRF_COOKIE = "ff_login_csrf"
MAX_FORM = 64 * 1024
MAX_UPLOAD = 8 * 1024 * 1024


def _secure(svc: Services) -> bool:
    return svc.settings.base_url.startswith("https://")


async def _session(request: Request) -> Session | None:
    return await services(request).staff.session(request.cookies.get(SESSION_COOKIE))


async def _form(request: Request, upload: bool = False) -> FormData:
    if upload:  # one image file (forum.images.reencode decides what it is)
        return await read_form(request, max_bytes=MAX_UPLOAD, max_fields=10, max_files=1)
    return await read_form(request, max_bytes=MAX_FORM, max_fields=50)


def _check_csrf(expected: str, form: FormData) -> None:
    given = str(form.get("csrf", ""))
    if not expected or not hmac.compare_digest(given, expected):
        raise Forbidden("CSRF token missing or wrong", public_message="form expired; try again")


async def _require(
    request: Request, role: str = "moderator", upload: bool = False
) -> tuple[Session, FormData | None]:
    """The staff member behind this request (and, for POSTs, the checked form)."""
    session = await _session(request)
    if session is None:
        raise _LoginNeeded
    if role == "admin" and session.role != "admin":
        raise Forbidden(f"{session.username} is not an admin", public_message="admins only")
    if request.method == "POST":
        form = await _form(request, upload)
        _check_csrf(session.csrf, form)
        return session, form
    return session, None


class _LoginNeeded(Exception):
    """No valid session: the handler answers with a redirect to the login page."""


def redirect_to(request: Request, name: str, fragment: str = "", **params: str) -> Response:
    """After a POST (303) or without a session: to a named route (``web.routes``)."""
    return RedirectResponse(request.app.url_path_for(name, **params) + fragment, status_code=303)


def to_login(request: Request) -> Response:
    return redirect_to(request, "admin_login")


def _cookie_path(request: Request) -> str:
    """Staff cookies are sent only to the admin pages."""
    return str(request.app.url_path_for("admin"))


StaffHandler = Callable[[Request, Session, FormData | None], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def staff_only(role: str = "moderator", upload: bool = False) -> Callable[[StaffHandler], Endpoint]:
    """Wrap a handler: no valid session → the login page; wrong role → 403; for POSTs
    the form is read and its CSRF token checked before the handler runs."""

    def wrap(handler: StaffHandler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                session, form = await _require(request, role, upload)
            except _LoginNeeded:
                return to_login(request)
            try:
                return await handler(request, session, form)
            finally:
                if form is not None:
                    await form.close()  # an uploaded file's temporary file

        return endpoint

    return wrap


async def login(request: Request) -> Response:
    svc = services(request)
    if request.method == "GET":
        token = secrets.token_urlsafe(24)
        response = render(request, "admin/login.html", csrf=token, failed=False)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=3600,
            path=_cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=_secure(svc),
        )
        return response
    form = await _form(request)
    _check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form)
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    try:
        await svc.login_limiter.hit(client_address(request))
    except RateLimited as limited:  # the form again, saying until when (in words)
        until = datetime.now(UTC) + timedelta(seconds=limited.retry_after)
        response = render(
            request, "admin/login.html", status=429, csrf=token, retry_at=format_time(until)
        )
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    session = await svc.staff.login(str(form.get("username", "")), str(form.get("password", "")))
    if session is None:
        return render(request, "admin/login.html", status=401, csrf=token, failed=True)
    response = redirect_to(request, "admin")
    response.set_cookie(
        SESSION_COOKIE,
        svc.staff.token(session),
        max_age=SESSION_SECONDS,
        path=_cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=_secure(svc),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_cookie_path(request))
    response.set_cookie(
        STAFF_HINT_COOKIE,
        "1",
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(svc),
    )
    return response


@staff_only()
async def logout(request: Request, session: Session, _form: FormData | None) -> Response:
    await services(request).staff.logout(session)
    response = to_login(request)
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
    response.delete_cookie(STAFF_HINT_COOKIE, path="/")
    return response


@staff_only()
async def dashboard(request: Request, session: Session, _form: FormData | None) -> Response:
    """The overview: what waits for the moderators, and the way to each page."""
    reports, held, proposals = await services(request).store.moderation_counts()
    return render(
        request,
        "admin/dashboard.html",
        session=session,
        counts={"reports": reports, "held": held, "proposals": proposals},
    )


# Where a moderation form came from, to go back to: a closed set (anything else: the
# overview). Values are route names and a query.
BACK = {
    "reports": ("admin_reports", ""),
    "replies": ("admin_replies", ""),
    "held": ("admin_replies", "?state=held"),
    "discussions": ("admin_discussions", ""),
    "blocks": ("admin_blocks_page", ""),
    "staff": ("admin_staff", ""),
}


async def audit(
    request: Request, session: Session, action: str, target: str, detail: str = ""
) -> None:
    """Who did what, for the administrators (/admin/audit); written once the action
    succeeded (an action that raised is not recorded)."""
    store = services(request).store
    await store.record_audit(session.username, action, target, detail, utcnow())


def back_to(request: Request, form: FormData) -> Response:
    name, query = BACK.get(str(form.get("back", "")), ("admin", ""))
    return redirect_to(request, name, query)


def confirm_first(
    request: Request,
    session: Session,
    form: FormData,
    *,
    question: str,
    effects: list[str],
    button: str,
) -> Response | None:
    """A far-reaching action asks first, on a page that says what will happen and to
    whom; the same form with ``confirm=yes`` does it. None: confirmed."""
    if form.get("confirm") == "yes":
        return None
    fields = [(k, str(v)) for k, v in form.multi_items() if k not in ("csrf", "confirm")]
    name, query = BACK.get(str(form.get("back", "")), ("admin", ""))
    return render(
        request,
        "admin/confirm.html",
        session=session,
        question=question,
        effects=effects,
        button=button,
        action=str(request.url.path),
        fields=fields,
        cancel=str(request.app.url_path_for(name)) + query,
    )


def gettext(request: Request, message: str) -> str:
    """``message`` in the page's language (for texts built here, not in a template)."""
    svc = services(request)
    return svc.renderer.gettext(choose_language(request, svc.settings.default_lang), message)
