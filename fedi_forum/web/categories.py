"""A category's URLs (docs/categories.md): ``/c/{slug}`` is its page for people (its
discussions, newest first, keyset paged) and its Group actor for AS2 clients; its
outbox (the boosts of its newest discussions), followers (a count) and feeds."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.activitypub import content, vocab
from fedi_forum.errors import NotAcceptable, NotFound
from fedi_forum.models import Category
from fedi_forum.web import feeds
from fedi_forum.web.activitypub import embedded
from fedi_forum.web.negotiation import activity_response, preferred_representation
from fedi_forum.web.pages import render
from fedi_forum.web.pagination import cursor
from fedi_forum.web.state import Services, services

PAGE_SIZE = 30
OUTBOX_SIZE = 20
PINNED = 10  # pinned discussions shown and featured, most recently pinned first


async def _category(svc: Services, request: Request) -> Category:
    c = await svc.store.category(request.path_params["slug"])
    if c is None:
        raise NotFound(f"no category {request.path_params['slug']!r}")
    return c


async def category(request: Request) -> Response:
    """``/c/{slug}``: the Group actor for AS2 clients, the category's page otherwise."""
    svc = services(request)
    wanted = preferred_representation(request.headers.get("accept"))
    if wanted is None:
        raise NotAcceptable("neither HTML nor AS2 acceptable")
    c = await _category(svc, request)
    if wanted == "as2":
        return activity_response(orjson.dumps(svc.categories.document(c)))
    before = cursor(request.query_params, "before")
    rows = await svc.store.category_discussions(c, before, PAGE_SIZE + 1)
    shown = rows[:PAGE_SIZE]
    items = [
        {
            "discussion": d,
            "excerpt": content.excerpt(content.without_title(opening.content, d.title), 240),
        }
        for d, opening in shown
    ]
    older = f"?before={shown[-1][0].id}" if len(rows) > PAGE_SIZE else None
    pinned = [] if before else await svc.store.category_discussions(c, None, PINNED, pinned=True)
    response = render(
        request,
        "category.html",
        category=c,
        items=items,
        older=older,
        pinned=[d for d, _ in pinned],
    )
    response.headers["Link"] = (
        f'<{svc.urls.category(c.slug)}>; rel="alternate"; type="application/activity+json"'
    )
    return response


async def featured(request: Request) -> Response:
    """The opening posts of its pinned discussions, embedded (FEP-1b12 ``featured``:
    Lemmy marks them as the community's featured posts when it refreshes the Group)."""
    svc = services(request)
    c = await _category(svc, request)
    items = []
    for d, _ in await svc.store.category_discussions(c, None, PINNED, pinned=True):
        raw = await svc.store.note_raw(d.id, 0)
        if raw is not None:
            items.append(embedded(raw))
    return activity_response(
        vocab.ordered_collection(
            svc.urls.category_featured(c.slug), total=len(items), first=None, items=items
        )
    )


async def outbox(request: Request) -> Response:
    """Its boosts of its newest discussions' opening posts (what a server shows of a
    Group it has just found)."""
    svc = services(request)
    c = await _category(svc, request)
    rows = await svc.store.category_discussions(c, None, OUTBOX_SIZE)
    actor = svc.urls.category(c.slug)
    items = [
        vocab.announce(
            svc.urls.category_announce(c.slug, svc.urls.note(d.slug, 0)),
            group_id=actor,
            followers=svc.urls.category_followers(c.slug),
            object_id=svc.urls.note(d.slug, 0),
            author=None,
            published=d.created_at,
        )
        for d, _ in rows
    ]
    count = await svc.store.category_size(c)
    return activity_response(
        vocab.ordered_collection(
            svc.urls.category_outbox(c.slug), total=count, first=None, items=items
        )
    )


async def followers(request: Request) -> Response:
    """A count only (as Lemmy's communities show): who follows is theirs to know."""
    svc = services(request)
    c = await _category(svc, request)
    total = await svc.store.category_followers_count(c.id)
    return activity_response(
        vocab.ordered_collection(svc.urls.category_followers(c.slug), total=total, first=None)
    )


async def answer(request: Request) -> Response:
    """The category's answer to the author of a post that asked to start a discussion
    (their server may fetch it by its id)."""
    svc = services(request)
    c = await _category(svc, request)
    proposal = await svc.store.proposal(request.path_params["id"])
    doc = await svc.store.proposal_answer(proposal.id) if proposal is not None else None
    if proposal is None or doc is None or proposal.category_id != c.id:
        raise NotFound("no such answer")
    return activity_response(doc.encode())  # stored with its @context


async def feed(request: Request) -> Response:
    """RSS/Atom of its newest discussions' opening posts."""
    svc = services(request)
    c = await _category(svc, request)
    kind = request.path_params["kind"]  # rss | atom: the route's convertor
    rows = await svc.store.category_discussions(c, None, feeds.FEED_SIZE)
    return feeds.respond(
        request,
        kind,
        feeds.Feed(
            id=svc.urls.category(c.slug),
            title=c.name,
            description=c.description or c.name,
            link=svc.urls.category(c.slug),
            self_url=svc.urls.category_feed(c.slug, kind),
            lang=c.lang,
            entries=await feeds.entries(
                svc, rows, svc.renderer.gettext(c.lang, "Official answer"), c.lang
            ),
        ),
    )
