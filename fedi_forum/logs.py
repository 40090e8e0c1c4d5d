"""Logging: plain text (default) or one JSON object per line for a log shipper
(``FEDI_FORUM_LOG_FORMAT=json``), and the request id every line of a request carries.

The request id lives in a context variable set by the web layer for each request (and
returned to the client as ``X-Request-Id``); a filter copies it onto every record, so
our own lines and uvicorn's access line of the same request carry the same id.
Federation events add ``remote_host`` and ``activity_type`` through ``extra=``."""

from __future__ import annotations

import contextvars
import copy
import logging
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
FORMATS = ("text", "json")
EXTRA_FIELDS = ("remote_host", "activity_type")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One object per line: time (ISO 8601, UTC), level, logger, message, request id,
    and the federation fields when given."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "")
        if rid:
            entry["request_id"] = rid
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class AccessJsonFormatter(JsonFormatter):
    """uvicorn's access record (args: client, method, path, http version, status) as
    JSON; the client address only when the operator asked for it."""

    def __init__(self, with_client: bool = False) -> None:
        super().__init__()
        self.with_client = with_client

    def format(self, record: logging.LogRecord) -> str:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 5:
            client, method, path, version, status = args
            record = copy.copy(record)
            record.msg = f'"{method} {path} HTTP/{version}" {status}'
            record.args = ()
            line = orjson.loads(super().format(record))
            line |= {"method": method, "path": path, "status": status}
            if self.with_client:
                line["client"] = client
            return orjson.dumps(line).decode()
        return super().format(record)
