"""/admin for the discussions themselves (administrators; staff replies for every
moderator): create, edit, avatar and header, state switches, deletion."""

from __future__ import annotations

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fedi_forum.errors import Conflict, InvalidInput, NotFound
from fedi_forum.forum.staff import Session
from fedi_forum.models import DiscussionState
from fedi_forum.web.admin import (
    audit,
    back_to,
    confirm_first,
    gettext,
    redirect_to,
    staff_only,
)
from fedi_forum.web.pages import render
from fedi_forum.web.state import require_discussion, services


@staff_only("admin")
async def discussions_page(request: Request, session: Session, _form: FormData | None) -> Response:
    svc = services(request)
    listed = [d for d, _ in await svc.store.discussions(limit=500)]
    return render(request, "admin/discussions.html", session=session, discussions=listed)


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
    elif action in ("pin-on", "pin-off"):
        await svc.discussions.set_pinned(slug, action == "pin-on")
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
    await audit(request, session, f"discussion {action}", slug)
    return back_to(request, form)


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
        "category": "",
    }
    categories = [c for c, _ in await svc.store.categories() if not c.is_forum]
    if existing is not None and existing.category_id is not None:
        values["category"] = next((c.slug for c in categories if c.id == existing.category_id), "")
    if existing is not None:
        raw = await svc.store.note_raw(existing.id, 0)
        source = orjson.loads(raw).get("source", {}) if raw else {}
        values["body"] = source.get("content", "") if isinstance(source, dict) else ""
        values["lang"] = existing.lang
    error = None
    if form is not None:
        filed = values["category"]
        fields = ("slug", "title", "summary", "lang", "body", "category")
        values |= {k: str(form.get(k, "")) for k in fields}
        try:
            if existing is None:
                d = await svc.discussions.create(
                    slug=values["slug"],
                    title=values["title"],
                    body=values["body"],
                    lang=values["lang"],
                    summary=values["summary"],
                    category=values["category"] or None,
                    author=session.username,  # who opened it (docs/rules.md §18)
                )
            else:
                d = await svc.discussions.edit(
                    existing.slug,
                    title=values["title"],
                    body=values["body"],
                    summary=values["summary"],
                )
                if values["category"] != filed:
                    d = await svc.categories.file(existing.slug, values["category"] or None)
        except (InvalidInput, Conflict, NotFound) as exc:
            error = exc.public_message
        else:
            done = "discussion edit" if existing else "discussion create"
            await audit(request, session, done, d.slug)
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
        categories=categories,
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
    await audit(request, session, f"discussion {kind}", slug)
    if svc.delivery is not None:
        svc.delivery.wake()
    return redirect_to(request, "admin_discussion_edit", slug=slug)


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
    ask = confirm_first(
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
    await audit(request, session, "discussion delete", slug)
    if svc.delivery is not None:
        svc.delivery.wake()
    return back_to(request, form)


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
            await audit(request, session, "staff reply" + official, d.slug)
            if svc.delivery is not None:
                svc.delivery.wake()
            return RedirectResponse(svc.urls.group(d.slug), status_code=303)
    return render(request, "admin/reply.html", session=session, discussion=d, error=error)
