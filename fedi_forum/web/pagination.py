"""Keyset cursors from query strings. Attacker-controlled: strict parsing, 400 on junk."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from fedi_forum.errors import InvalidInput

MAX_CURSOR = 2**62


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
