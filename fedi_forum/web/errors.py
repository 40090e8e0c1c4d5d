"""Turning errors into responses, in one place (the guard in front of every request,
with the headers every response gets, is web/guard.py).

``FediForumError`` → its status and public message (HTML for browsers, JSON otherwise).
Anything else → 500 with a generic message; the traceback goes to the log only.
"""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.errors import FediForumError, RetryLater
from fedi_forum.web.negotiation import preferred_representation
from fedi_forum.web.pages import render

log = logging.getLogger(__name__)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and preferred_representation(accept) == "html"


def error_response(request: Request, status: int, message: str) -> Response:
    if _wants_html(request) and hasattr(request.app.state, "services"):
        return render(request, "error.html", status=status, error_status=status)
    return Response(
        orjson.dumps({"error": message}), status_code=status, media_type="application/json"
    )


async def on_forum_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FediForumError)
    # the scope's path, not request.url: building the URL cost ~10 µs of a refused
    # inbox request's ~165, and the line is usually not written (INFO)
    log.info("%s %s -> %d: %s", request.method, request.scope.get("path"), exc.status, exc)
    response = error_response(request, exc.status, exc.public_message)
    if isinstance(exc, RetryLater):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(request, exc.status_code, str(exc.detail).lower())
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def on_client_gone(request: Request, _exc: Exception) -> Response:
    """The sender hung up before its body arrived (a timeout on its side, a load test
    stopping): nobody will read an answer, and it is not our error."""
    log.debug("%s %s: client disconnected", request.method, request.url.path)
    return Response(status_code=400)


async def on_unexpected(request: Request, _exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        orjson.dumps({"error": "internal error"}), status_code=500, media_type="application/json"
    )
