"""Run a real uvicorn server in the test's own event loop on 127.0.0.1:<free port>.

The socket is bound before Settings are built, so the base URL (which every id and
every signature embeds) names the real port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:  # leave Ctrl-C to pytest
        yield

    async def main_loop(self) -> None:
        """uvicorn looks at ``should_exit`` every 100 ms; every test stops two or three
        servers, so look every 10 ms (``on_tick`` still refreshes the Date header only
        every tenth tick it is given, i.e. every 100 ms here)."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            await asyncio.sleep(0.01)


def bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def live_server(
    make_app: Callable[[str], Starlette], tls: tuple[Path, Path] | None = None
) -> AsyncIterator[tuple[str, Starlette]]:
    """Yield (base_url, app) for an app built by ``make_app(base_url)``, served for real
    (over https with ``tls`` = (certificate, key) files)."""
    sock = bind_loopback()
    scheme = "https" if tls else "http"
    base_url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
    app = make_app(base_url)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raise the startup error
            await asyncio.sleep(0.01)
        yield base_url, app
    finally:
        server.should_exit = True
        await task
        sock.close()
