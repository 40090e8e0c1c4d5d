"""Keyset cursors from query strings (attacker-controlled: strict parsing, 400 on junk),
and where a message sits among a discussion's HTML pages."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from fedi_forum.errors import InvalidInput

MAX_CURSOR = 2**62
HTML_PAGE_SIZE = 50  # messages per HTML page: seqs are dense, so pages are fixed blocks


def place_of(seq: int) -> str:
    """The query and fragment, on a discussion's page URL, of the page showing message
    ``seq`` and its anchor there (``#m7``, ``?after=50#m60``): a link to a message works
    from any page."""
    if seq <= HTML_PAGE_SIZE:
        return f"#m{seq}"
    after = ((seq - 1) // HTML_PAGE_SIZE) * HTML_PAGE_SIZE
    return f"?after={after}#m{seq}"


def cursor(params: QueryParams, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_CURSOR:
        raise InvalidInput(f"bad cursor {name}", public_message=f"invalid '{name}' parameter")
    return int(raw)


def is_page_request(params: QueryParams) -> bool:
    page = params.get("page")
    if page is None:
        return False
    if page != "true":
        raise InvalidInput("bad page", public_message="invalid 'page' parameter")
    return True
