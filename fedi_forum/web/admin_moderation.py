"""/admin, the moderators' work: reports (what was reported, acted on where it is
shown), replies (paged and filtered; the pre-moderation queue), blocks and blocklist
imports. The sessions, the question before far-reaching actions and the audit record
are ``web.admin``'s."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import NotFound
from fedi_forum.forum.moderation import REASONS, Moderation
from fedi_forum.forum.staff import Session
from fedi_forum.store.notes import NOTE_STATES
from fedi_forum.web.admin import (
    MAX_FORM,
    audit,
    back_to,
    confirm_first,
    gettext,
    redirect_to,
    staff_only,
)
from fedi_forum.web.pages import render
from fedi_forum.web.pagination import cursor
from fedi_forum.web.state import services


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


@staff_only()
async def moderate_note(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    if request.path_params["action"] == "delete":
        ask = confirm_first(
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
    await audit(
        request,
        session,
        f"note {request.path_params['action']}",
        f"{request.path_params['slug']} #{request.path_params['seq']}",
        str(form.get("reason", "")),
    )
    if svc.delivery is not None:
        svc.delivery.wake()
    return back_to(request, form)


@staff_only()
async def report_state(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    action = request.path_params["action"]
    if action == "forward":  # anonymised: from our instance actor; comment only if chosen
        await Moderation(svc.settings, svc.store).forward_report(
            request.path_params["id"], include_comment=form.get("include_comment") == "on"
        )
        await audit(request, session, "report forward", f"report {request.path_params['id']}")
        if svc.delivery is not None:
            svc.delivery.wake()
        return back_to(request, form)
    state = {"resolve": "resolved", "dismiss": "dismissed"}.get(action)
    if state is None:  # the route admits only resolve/dismiss/forward; a closed set here too
        raise NotFound(f"no action {action!r}")
    await svc.store.set_report_state(request.path_params["id"], state)
    await audit(request, session, f"report {action}", f"report {request.path_params['id']}")
    return back_to(request, form)


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
async def blocks(request: Request, session: Session, form: FormData | None) -> Response:
    assert form is not None
    svc = services(request)
    moderation = Moderation(svc.settings, svc.store)
    kind, value = str(form.get("kind", "domain")), str(form.get("value", ""))
    action = request.path_params["action"]
    if action == "add":
        ask = confirm_first(
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
    await audit(request, session, f"block {action}", f"{kind} {value}", reason)
    await svc.blocklist.reload()
    return back_to(request, form)


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
            await audit(request, session, "blocklist import", f"{len(text.splitlines())} lines")
            await svc.blocklist.reload()
            return redirect_to(request, "admin", "#blocks")
        preview = await moderation.preview_import(text)
    return render(
        request, "admin/import.html", session=session, preview=preview, text=text, reasons=REASONS
    )
