"""Reading HTML form posts with a bounded size. Browsers always send Content-Length for
forms; a body without one (chunked) could be of any size, so it is refused."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request

from fedi_forum.errors import InvalidInput, RequestTooLarge


async def read_form(request: Request, *, max_bytes: int, max_fields: int) -> FormData:
    length = request.headers.get("content-length", "")
    if not length.isascii() or not length.isdigit():
        raise InvalidInput("form without Content-Length", public_message="Content-Length required")
    if int(length) > max_bytes:
        raise RequestTooLarge(f"form of {length} bytes")
    return await request.form(max_files=0, max_fields=max_fields)
