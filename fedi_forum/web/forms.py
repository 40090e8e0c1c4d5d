"""Reading HTML form posts with a bounded size. Browsers always send Content-Length for
forms; a body without one (chunked) could be of any size, so it is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.datastructures import FormData
from starlette.requests import Request

from fedi_forum.errors import InvalidInput, RequestTimeout, RequestTooLarge
from fedi_forum.web.admission import outside_admission


async def read_form(
    request: Request, *, max_bytes: int, max_fields: int, max_files: int = 0
) -> FormData:
    length = request.headers.get("content-length", "")
    if not length.isascii() or not length.isdigit():
        raise InvalidInput("form without Content-Length", public_message="Content-Length required")
    if int(length) > max_bytes:
        raise RequestTooLarge(f"form of {length} bytes")
    async with read_deadline(request):
        return await request.form(max_files=max_files, max_fields=max_fields)


BODY_DEADLINE = 10.0  # seconds for a whole request body (1 MiB needs ~1 Mbit/s)


@contextlib.asynccontextmanager
async def read_deadline(request: Request) -> AsyncIterator[None]:
    """Reading a body: outside the request's admission slot (a slow sender serves only
    itself), and within ``BODY_DEADLINE`` (a body at 1 byte / 2 s is cut off: 408)."""
    try:
        async with outside_admission(request.scope), asyncio.timeout(BODY_DEADLINE):
            yield
    except TimeoutError as exc:
        raise RequestTimeout(f"body not complete after {BODY_DEADLINE:.0f} s") from exc
