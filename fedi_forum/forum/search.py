"""Search: what a visitor typed → ranked hits with marked snippets (docs/search.md).

The store finds and ranks (one call for either engine); this reads the query into
words and cuts a snippet of each hit with the found words marked.
"""

from __future__ import annotations

import dataclasses
import html
from datetime import date

from fedi_forum.activitypub.search_text import Terms, snippet
from fedi_forum.errors import InvalidInput
from fedi_forum.models import Discussion, Note
from fedi_forum.store.search import MAX_RESULTS, SearchFilter, SearchStore

PAGE_SIZE = 20
MAX_PAGE = MAX_RESULTS // PAGE_SIZE
MAX_QUERY = 200  # characters of a query read (attacker-controlled; the rest is dropped)


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    discussion: Discussion
    note: Note
    snippet: str  # HTML, escaped piece by piece (search_text.snippet)


@dataclasses.dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    searched: bool  # the query had words to look for
    common_only: bool  # it had words, all too common to look for
    found: list[Found]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, -(-self.total // PAGE_SIZE))


def parse_day(raw: str | None, name: str) -> str | None:
    """A ``YYYY-MM-DD`` filter, or None when empty (a form sends empty fields)."""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10]).isoformat() if len(raw) == 10 else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str) -> str:
    raise InvalidInput(f"bad {name}", public_message=f"'{name}' must be a date (YYYY-MM-DD)")


async def search(store: SearchStore, query: str, where: SearchFilter, page: int) -> SearchPage:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput("bad page", public_message=f"'page' must be 1-{MAX_PAGE}")
    query = query[:MAX_QUERY]
    terms = Terms.parse(query)
    hits, total = await store.search(terms, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    found = [
        Found(
            discussion=h.discussion,
            note=h.note,
            # a content warning's text stands in for what it warns about
            snippet=html.escape(h.note.summary)
            if h.note.sensitive and h.note.summary
            else snippet(h.note.content, h.note.lang, terms),
        )
        for h in hits
    ]
    return SearchPage(
        query=query,
        searched=bool(terms),
        common_only=terms.common_only,
        found=found,
        total=total,
        page=page,
    )
