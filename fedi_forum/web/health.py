"""``/healthz`` (liveness: the process answers) and ``/readyz`` (readiness: the database
is at the schema this code knows and can be written, the keys can be read, the writer
and, where this process runs one, the delivery worker are alive). Both are cheap: no
page render, no lock wait, one indexed read. They skip admission (web/guard.py), so an
overloaded but healthy process is not reported dead."""

from __future__ import annotations

import os

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.migrations import latest_version
from fedi_forum.web.state import Services, services


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def healthz(_request: Request) -> Response:
    return _json(200, {"status": "ok"})


async def problems(svc: Services) -> list[str]:
    found = []
    try:
        version = await svc.store.db.schema_version()
    except Exception:  # any failure to read is the answer, never a 500
        found.append("database unreadable")
    else:
        if version != latest_version():
            found.append(f"schema at {version}, this code needs {latest_version()}")
    db_path = svc.settings.db_path
    writable = os.access(db_path, os.W_OK) and os.access(db_path.parent, os.W_OK)
    if not svc.settings.on_postgresql and not writable:  # PostgreSQL: the writer's own check
        found.append("database not writable")
    if not svc.store.db.writer_alive:
        found.append("database writer stopped")
    try:  # a file, or sealed in the database (unsealed once, then held by the process)
        await svc.discussions.keyring.load(INSTANCE_KEY)
    except Exception:  # any failure to read is the answer, never a 500
        found.append("instance key unreadable")
    if svc.delivery is not None and not svc.delivery.alive:
        found.append("delivery worker stopped")
    return found


async def readyz(request: Request) -> Response:
    found = await problems(services(request))
    if found:
        return _json(503, {"status": "not ready", "problems": found})
    return _json(200, {"status": "ready"})
