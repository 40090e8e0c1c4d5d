"""/admin: the facilitator's side. Login with a signed HttpOnly SameSite=Strict cookie
(Secure on https), a CSRF token on every form, login rate limit and account lockout,
session expiry and logout. Moderators handle reports and replies; admins also
discussions, blocks and federation health."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fedi_forum.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited
from fedi_forum.forum.moderation import REASONS, Moderation
from fedi_forum.forum.staff import SESSION_SECONDS, Session
from fedi_forum.models import Dialect, DiscussionState, format_time, utcnow
from fedi_forum.store.notes import NOTE_STATES
from fedi_forum.web.forms import read_form
from fedi_forum.web.pages import choose_language, render
from fedi_forum.web.pagination import cursor
from fedi_forum.web.state import Services, client_address, require_discussion, services

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
    if upload:  # one image file (forum.discussions.reencode decides what it is)
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


def _to(request: Request, name: str, fragment: str = "", **params: str) -> Response:
    """After a POST (303) or without a session: to a named route (``web.routes``)."""
    return RedirectResponse(request.app.url_path_for(name, **params) + fragment, status_code=303)


def _to_login(request: Request) -> Response:
    return _to(request, "admin_login")


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
                return _to_login(request)
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
    response = _to(request, "admin")
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
    response = _to_login(request)
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
    response.delete_cookie(STAFF_HINT_COOKIE, path="/")
    return response


@staff_only()
async def dashboard(request: Request, session: Session, _form: FormData | None) -> Response:
    """The overview: what waits for the moderators, and the way to each page."""
    reports, held = await services(request).store.moderation_counts()
    return render(
        request,
        "admin/dashboard.html",
        session=session,
        counts={"reports": reports, "held": held},
    )


@staff_only()
async def reports_page(request: Request, session: Session, _form: FormData | None) -> Response:
    svc = services(request)
    return render(
        request,
        "admin/reports.html",
        session=session,
        reports=await svc.store.report_details(),
        reasons=REASONS,
    )


REPLIES_PAGE = 30


@staff_only()
async def replies_page(request: Request, session: Session, _form: FormData | None) -> Response:
    """Every reply, newest first, keyset-paged, by discussion, state and author; the
    pre-moderation queue is this page with ``state=held``."""
    svc = services(request)
    q = request.query_params  # attacker-controlled: bounded, a closed set of states
    filters = {
        "discussion": q.get("discussion", "")[:30].lower(),
        "state": q.get("state", "") if q.get("state", "") in NOTE_STATES else "",
        "author": q.get("author", "")[:100].strip(),
        "message": str(cursor(q, "message") or ""),  # one message: the page's "moderate"
    }
    before = cursor(q, "before")
    replies = await svc.store.admin_replies(
        limit=REPLIES_PAGE,
        before=before,
        slug=filters["discussion"] or None,
        state=filters["state"] or None,
        author=filters["author"] or None,
        seq=int(filters["message"]) if filters["message"] else None,
    )
    older = None
    if len(replies) == REPLIES_PAGE:
        older = "?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "before": replies[-1].id}
        )
    held = filters["state"] == "held"
    return render(
        request,
        "admin/replies.html",
        session=session,
        replies=replies,
        filters=filters,
        states=NOTE_STATES,
        discussions=[d for d, _ in await svc.store.discussions(limit=500)],
        older=older,
        back="held" if held else "replies",
        title=gettext(request, "Waiting for approval" if held else "Replies"),
        reasons=REASONS,
    )


@staff_only("admin")
async def discussions_page(request: Request, session: Session, _form: FormData | None) -> Response:
    svc = services(request)
    listed = [d for d, _ in await svc.store.discussions(limit=500)]
    return render(request, "admin/discussions.html", session=session, discussions=listed)


@staff_only("admin")
async def blocks_page(request: Request, session: Session, _form: FormData | None) -> Response:
    svc = services(request)
    return render(
        request,
        "admin/blocks.html",
        session=session,
        blocks=await svc.store.block_list(),
        reasons=REASONS,
    )


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
        ask = _confirm(
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
    await _audit(request, session, f"staff {action}", username)
    return _back(request, form)


AUDIT_PAGE = 50


@staff_only("admin")
async def audit_page(request: Request, session: Session, _form: FormData | None) -> Response:
    """Which staff member did what, newest first (administrators only)."""
    svc = services(request)
    entries = await svc.store.audit_log(AUDIT_PAGE, cursor(request.query_params, "before"))
    older = f"?before={entries[-1].id}" if len(entries) == AUDIT_PAGE else None
    return render(request, "admin/audit.html", session=session, entries=entries, older=older)


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


async def _audit(
    request: Request, session: Session, action: str, target: str, detail: str = ""
) -> None:
    """Who did what, for the administrators (/admin/audit); written once the action
    succeeded (an action that raised is not recorded)."""
    store = services(request).store
    await store.record_audit(session.username, action, target, detail, utcnow())


def _back(request: Request, form: FormData) -> Response:
    name, query = BACK.get(str(form.get("back", "")), ("admin", ""))
    return _to(request, name, query)


def _confirm(
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


@staff_only()
async def moderate_note(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    if request.path_params["action"] == "delete":
        ask = _confirm(
            request,
            session,
            form,
            question=gettext(request, "Remove message #%(n)s of “%(slug)s”?")
            % {"n": request.path_params["seq"], "slug": request.path_params["slug"]},
            effects=[
                gettext(request, "Its text is gone from the page and the feeds for good."),
                gettext(
                    request,
                    "The servers of the discussion's followers are told it was removed, "
                    "and the public moderation log says so (without names).",
                ),
            ],
            button=gettext(request, "Remove it"),
        )
        if ask is not None:
            return ask
    await Moderation(svc.settings, svc.store).moderate(
        request.path_params["slug"],
        request.path_params["seq"],
        request.path_params["action"],
        str(form.get("reason", "other")),
    )
    await _audit(
        request,
        session,
        f"note {request.path_params['action']}",
        f"{request.path_params['slug']} #{request.path_params['seq']}",
        str(form.get("reason", "")),
    )
    if svc.delivery is not None:
        svc.delivery.wake()
    return _back(request, form)


@staff_only()
async def report_state(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    action = request.path_params["action"]
    if action == "forward":  # anonymised: from our instance actor; comment only if chosen
        await Moderation(svc.settings, svc.store).forward_report(
            request.path_params["id"], include_comment=form.get("include_comment") == "on"
        )
        await _audit(request, session, "report forward", f"report {request.path_params['id']}")
        if svc.delivery is not None:
            svc.delivery.wake()
        return _back(request, form)
    state = {"resolve": "resolved", "dismiss": "dismissed"}.get(action)
    if state is None:  # the route admits only resolve/dismiss/forward; a closed set here too
        raise NotFound(f"no action {action!r}")
    await svc.store.set_report_state(request.path_params["id"], state)
    await _audit(request, session, f"report {action}", f"report {request.path_params['id']}")
    return _back(request, form)


@staff_only("admin")
async def discussion_state(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    action = request.path_params["action"]
    slug = request.path_params["slug"]
    if action in ("announce-on", "announce-off"):
        await svc.discussions.set_announce_replies(slug, action == "announce-on")
    elif action in ("premoderate-on", "premoderate-off"):
        await svc.discussions.set_premoderate(slug, action == "premoderate-on")
    else:
        states = {
            "lock": DiscussionState.LOCKED,
            "unlock": DiscussionState.OPEN,
            "close": DiscussionState.CLOSED,
        }
        state = states.get(action)
        if state is None:
            raise NotFound(f"no action {action!r}")
        await svc.discussions.set_state(slug, state)
    await _audit(request, session, f"discussion {action}", slug)
    return _back(request, form)


@staff_only("admin")
async def blocks(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    moderation = Moderation(svc.settings, svc.store)
    kind, value = str(form.get("kind", "domain")), str(form.get("value", ""))
    action = request.path_params["action"]
    if action == "add":
        ask = _confirm(
            request,
            session,
            form,
            question=gettext(request, "Block %(value)s?") % {"value": value},
            effects=[
                gettext(
                    request,
                    "Nothing from it is accepted any more: replies, follows, likes, reports.",
                )
                if kind == "actor"
                else gettext(
                    request,
                    "Nothing from this server or its subdomains is accepted any more, and "
                    "nothing is sent to it.",
                ),
                gettext(request, "Its followers stop getting this forum's posts."),
                gettext(request, "You can lift the block later; what was refused stays lost."),
            ],
            button=gettext(request, "Block it"),
        )
        if ask is not None:
            return ask
        await moderation.block(kind, value, str(form.get("reason", "spam")))
    elif action == "remove":
        await moderation.unblock(kind, value)
    else:
        raise NotFound(f"no action {action!r}")
    reason = str(form.get("reason", "")) if action == "add" else ""
    await _audit(request, session, f"block {action}", f"{kind} {value}", reason)
    await svc.blocklist.reload()
    return _back(request, form)


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
    return _to(request, "admin_federation", "#following")


@staff_only("admin")
async def discussion_form(request: Request, session: Session, form: FormData | None) -> Response:
    """Create (``/admin/discussions/new``) or edit (``…/{slug}/edit``) a discussion;
    admins only. Edits federate as Update{Note} and Update{Group}."""
    svc = services(request)
    slug = request.path_params.get("slug")
    existing = await svc.store.discussion(slug) if slug else None
    if slug and (existing is None or existing.is_deleted):
        raise NotFound(f"no discussion {slug!r}")
    values = {
        "slug": slug or "",
        "title": existing.title if existing else "",
        "summary": existing.summary if existing else "",
        "lang": "nl",
        "body": "",
    }
    if existing is not None:
        raw = await svc.store.note_raw(existing.id, 0)
        source = orjson.loads(raw).get("source", {}) if raw else {}
        values["body"] = source.get("content", "") if isinstance(source, dict) else ""
        values["lang"] = existing.lang
    error = None
    if form is not None:
        values |= {k: str(form.get(k, "")) for k in ("slug", "title", "summary", "lang", "body")}
        try:
            if existing is None:
                d = await svc.discussions.create(
                    slug=values["slug"],
                    title=values["title"],
                    body=values["body"],
                    lang=values["lang"],
                    summary=values["summary"],
                )
            else:
                d = await svc.discussions.edit(
                    existing.slug,
                    title=values["title"],
                    body=values["body"],
                    summary=values["summary"],
                )
        except (InvalidInput, Conflict) as exc:
            error = exc.public_message
        else:
            done = "discussion edit" if existing else "discussion create"
            await _audit(request, session, done, d.slug)
            if svc.delivery is not None:
                svc.delivery.wake()
            return RedirectResponse(svc.urls.group(d.slug), status_code=303)
    return render(
        request,
        "admin/discussion_form.html",
        session=session,
        values=values,
        editing=existing is not None,
        discussion=existing,
        error=error,
    )


@staff_only("admin", upload=True)
async def discussion_image(request: Request, session: Session, form: FormData | None) -> Response:
    """A discussion's own avatar or header, uploaded from its edit page."""
    assert form is not None
    svc = services(request)
    kind = str(form.get("kind", ""))
    upload = form.get("image")
    slug = request.path_params["slug"]
    if kind not in ("icon", "header"):  # a closed set
        raise NotFound(f"no image kind {kind!r}")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("no file", public_message="choose an image file")
    try:
        await svc.discussions.set_image(slug, kind, await upload.read())
    except InvalidInput as exc:
        return await _edit_page(request, session, slug, error=exc.public_message, status=400)
    await _audit(request, session, f"discussion {kind}", slug)
    if svc.delivery is not None:
        svc.delivery.wake()
    return _to(request, "admin_discussion_edit", slug=slug)


async def _edit_page(
    request: Request, session: Session, slug: str, *, error: str, status: int
) -> Response:
    """The edit page again with an error (an image that was refused)."""
    svc = services(request)
    d = await require_discussion(svc, slug)
    values = {"slug": d.slug, "title": d.title, "summary": d.summary, "lang": d.lang, "body": ""}
    return render(
        request,
        "admin/discussion_form.html",
        status=status,
        session=session,
        values=values,
        editing=True,
        discussion=d,
        error=error,
    )


@staff_only("admin")
async def delete_discussion(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    slug = request.path_params["slug"]
    d = await require_discussion(svc, slug)
    followers = await svc.store.followers_count(d.id)
    ask = _confirm(
        request,
        session,
        form,
        question=gettext(request, "Delete the discussion “%(title)s”?") % {"title": d.title},
        effects=[
            gettext(request, "Its page, messages and feeds are gone for good (410 Gone)."),
            gettext(request, "Its %(n)s followers' servers are told the discussion was deleted.")
            % {"n": followers},
            gettext(request, "Its name cannot be used for a new discussion."),
        ],
        button=gettext(request, "Delete it"),
    )
    if ask is not None:
        return ask
    await svc.discussions.set_state(slug, DiscussionState.DELETED)
    await _audit(request, session, "discussion delete", slug)
    if svc.delivery is not None:
        svc.delivery.wake()
    return _back(request, form)


@staff_only()
async def staff_reply(request: Request, session: Session, form: FormData | None) -> Response:
    """A moderator replies in a discussion as themselves (their Person actor)."""
    svc = services(request)
    d = await require_discussion(svc, request.path_params["slug"])
    error = None
    if form is not None:
        seq = str(form.get("in_reply_to", "0"))
        try:
            await svc.discussions.staff_reply(
                d.slug,
                username=session.username,
                text=str(form.get("text", "")),
                in_reply_to_seq=int(seq) if seq.isdigit() and len(seq) <= 18 else 0,
                official=form.get("official") == "on",
            )
        except (InvalidInput, NotFound) as exc:
            error = exc.public_message
        else:
            official = " (official)" if form.get("official") == "on" else ""
            await _audit(request, session, "staff reply" + official, d.slug)
            if svc.delivery is not None:
                svc.delivery.wake()
            return RedirectResponse(svc.urls.group(d.slug), status_code=303)
    return render(request, "admin/reply.html", session=session, discussion=d, error=error)


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
                await _audit(request, session, "own name", session.username)
                saved = True
            elif change == "password":  # every session ends, this one too
                await svc.staff.change_own_password(
                    session, str(form.get("current", "")), str(form.get("new", ""))
                )
                await _audit(request, session, "own password", session.username)
                return _to_login(request)
            else:  # a closed set: anything else is not a change we know
                raise NotFound(f"unknown account change {change!r}")
        except (InvalidInput, Forbidden) as exc:
            error = exc.public_message
    member = await svc.store.staff(session.username)
    if member is None:
        return _to_login(request)
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


@staff_only("admin")
async def import_blocks(request: Request, session: Session, form: FormData | None) -> Response:
    """A Mastodon domain-block CSV: first a preview of what changes, then apply."""
    svc = services(request)
    moderation = Moderation(svc.settings, svc.store)
    preview = None
    text = ""
    if form is not None:
        upload = form.get("csv_text")
        text = str(upload or "")[:MAX_FORM]
        if form.get("apply") == "yes":
            await moderation.import_blocks(text, str(form.get("reason", "spam")))
            await _audit(request, session, "blocklist import", f"{len(text.splitlines())} lines")
            await svc.blocklist.reload()
            return _to(request, "admin", "#blocks")
        preview = await moderation.preview_import(text)
    return render(
        request, "admin/import.html", session=session, preview=preview, text=text, reasons=REASONS
    )


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
    return _to(request, "admin_federation", "#aside")


@staff_only("admin")
async def set_dialect(request: Request, _session: Session, form: FormData | None) -> Response:
    """Override how a server is spoken to (its NodeInfo guess can be wrong)."""
    assert form is not None
    dialect = str(form.get("dialect", ""))
    await services(request).store.set_dialect_override(
        request.path_params["host"], dialect if dialect in set(Dialect) else None
    )
    return _to(request, "admin_federation")


def gettext(request: Request, message: str) -> str:
    """``message`` in the page's language (for texts built here, not in a template)."""
    svc = services(request)
    return svc.renderer.gettext(choose_language(request, svc.settings.default_lang), message)
