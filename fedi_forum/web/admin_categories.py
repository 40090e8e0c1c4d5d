"""/admin for categories (administrators; docs/categories.md): the list, a new one, a
new name, description or posting rule; and the posts from the fediverse that wait to
start a discussion (every moderator decides those). Which category a discussion is in
is set on its edit page."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import Conflict, InvalidInput, NotFound
from fedi_forum.forum.proposals import Proposals
from fedi_forum.forum.staff import Session
from fedi_forum.models import CategoryPosting
from fedi_forum.web.admin import audit, redirect_to, staff_only
from fedi_forum.web.pages import render
from fedi_forum.web.state import services

FIELDS = ("slug", "name", "description")


@staff_only("admin")
async def categories_page(request: Request, session: Session, form: FormData | None) -> Response:
    """GET: every category and the form for a new one. POST: create it."""
    svc = services(request)
    values = dict.fromkeys(FIELDS, "")
    error, status = None, 200
    if form is not None:
        values = {k: str(form.get(k, "")) for k in FIELDS}
        try:
            c = await svc.categories.create(
                slug=values["slug"], name=values["name"], description=values["description"]
            )
        except (InvalidInput, Conflict) as exc:
            error, status = exc.public_message, exc.status
        else:
            await audit(request, session, "category create", c.slug)
            return redirect_to(request, "admin_categories")
    return render(
        request,
        "admin/categories.html",
        status=status,
        session=session,
        categories=await svc.store.categories(),
        values=values,
        error=error,
    )


@staff_only("admin")
async def category_form(request: Request, session: Session, form: FormData | None) -> Response:
    """A category's new name, description, posting rule and reply relay; followers get
    ``Update{Group}``."""
    svc = services(request)
    c = await svc.store.category(request.path_params["slug"])
    if c is None:
        raise NotFound(f"no category {request.path_params['slug']!r}")
    values = {
        "slug": c.slug,
        "name": c.name,
        "description": c.description,
        "posting": c.posting.value,
        "relay": "on" if c.relay_replies else "",
    }
    error, status = None, 200
    if form is not None:
        values |= {k: str(form.get(k, "")) for k in ("name", "description", "posting", "relay")}
        try:
            posting = CategoryPosting(values["posting"])  # a closed set
        except ValueError:
            raise InvalidInput("bad posting", public_message="choose a posting rule") from None
        try:
            await svc.categories.edit(
                c.slug,
                name=values["name"],
                description=values["description"],
                posting=posting,
                relay_replies=values["relay"] == "on",
            )
        except InvalidInput as exc:
            error, status = exc.public_message, exc.status
        else:
            await audit(request, session, "category edit", c.slug)
            if svc.delivery is not None:
                svc.delivery.wake()
            return redirect_to(request, "admin_categories")
    return render(
        request,
        "admin/category_form.html",
        status=status,
        session=session,
        category=c,
        values=values,
        error=error,
    )


@staff_only()
async def proposals_page(request: Request, session: Session, _form: FormData | None) -> Response:
    """Posts from the fediverse waiting to start a discussion, oldest first."""
    svc = services(request)
    waiting = await svc.store.held_proposals()
    categories = {c.id: c for c, _ in await svc.store.categories()}
    authors = {p.author_id: await svc.store.actor(p.author_id) for p in waiting}
    return render(
        request,
        "admin/proposals.html",
        session=session,
        proposals=waiting,
        categories=categories,
        authors=authors,
    )


@staff_only()
async def decide(request: Request, session: Session, form: FormData | None) -> Response:
    """Open the discussion a proposal asks for, or refuse it; its author is told."""
    assert form is not None
    svc = services(request)
    action = request.path_params["action"]
    proposals = Proposals(svc.settings, svc.store, svc.discussions)
    proposal_id: int = request.path_params["id"]
    if action == "approve":
        d = await proposals.approve(proposal_id, moderator=session.username)
        await audit(request, session, "proposal approve", d.slug)
    elif action == "refuse":
        await proposals.refuse(proposal_id)
        await audit(request, session, "proposal refuse", str(proposal_id))
    else:  # a closed set: anything else is not a page
        raise NotFound(f"no action {action!r}")
    if svc.delivery is not None:
        svc.delivery.wake()
    return redirect_to(request, "admin_proposals")
