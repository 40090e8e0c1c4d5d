"""The few static files (stylesheet, group icon), served from memory with an ETag.

Loaded once at start-up: serving them through the file system cost a stat and a thread
hop per request (~1k/s), from memory they cost what a JSON answer does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mimetypes
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import NotFound
from fedi_forum.web.state import services


@dataclasses.dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


def load_static() -> dict[str, StaticFile]:
    found = {}
    for entry in files("fedi_forum.web").joinpath("static").iterdir():
        if entry.is_file():
            body = entry.read_bytes()
            media_type = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            if media_type.startswith("text/"):
                media_type += "; charset=utf-8"
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            found[entry.name] = StaticFile(body, media_type, etag)
    return found


async def static(request: Request) -> Response:
    item = services(request).static.get(request.path_params["name"])
    if item is None:
        raise NotFound("no such static file")
    headers = {"ETag": item.etag, "Cache-Control": "public, max-age=86400"}
    if request.headers.get("if-none-match") == item.etag:
        return Response(status_code=304, headers=headers)
    return Response(item.body, media_type=item.media_type, headers=headers)
