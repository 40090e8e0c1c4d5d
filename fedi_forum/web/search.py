"""``GET /search``: the search page (docs/search.md). Server-rendered, no JavaScript;
the query, dates and page number come from the visitor and are checked in
``forum.search``."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import InvalidInput
from fedi_forum.forum.search import parse_day, search
from fedi_forum.store.search import SearchFilter
from fedi_forum.web.pages import choose_language, display_author, local_authors_of, render
from fedi_forum.web.state import services


async def search_page(request: Request) -> Response:
    svc = services(request)
    params = request.query_params
    page_raw = params.get("page", "1")
    if not page_raw.isascii() or not page_raw.isdigit() or len(page_raw) > 3:
        raise InvalidInput("bad page", public_message="invalid 'page' parameter")
    categories = [c for c, _ in await svc.store.categories() if not c.is_forum]
    chosen = params.get("category") or None
    category = next((c for c in categories if c.slug == chosen), None)
    if chosen and category is None:
        raise InvalidInput("bad category", public_message="no such category")
    where = SearchFilter(
        since=parse_day(params.get("from"), "from"),
        until=parse_day(params.get("to"), "to"),
        category_id=category.id if category else None,
    )
    result = await search(svc.store, params.get("q", ""), where, int(page_raw))
    lang = choose_language(request, svc.settings.default_lang)
    local = await local_authors_of(svc, [f.note for f in result.found])
    rows = [
        {
            "found": f,
            "author": display_author(svc, f.discussion, f.note, local, lang),
            # escaped piece by piece in search_text.snippet (or html.escape)
            "snippet": Markup(f.snippet),  # noqa: S704
        }
        for f in result.found
    ]
    given = (("q", result.query), ("from", where.since), ("to", where.until), ("category", chosen))
    return render(
        request,
        "search.html",
        result=result,
        rows=rows,
        where=where,
        kept={k: v for k, v in given if v},
        categories=categories,
        chosen=chosen,
    )
