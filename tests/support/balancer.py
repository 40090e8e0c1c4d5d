"""A load balancer for tests: the public address of several `serve` processes, as an
operator's proxy would be. Each TCP connection goes to the next backend in turn that
accepts it (a killed backend refuses, so it is skipped: the health check of a real one).
Remote servers fetch our actors and keys through it, so they keep working while one
host is down."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


@contextlib.asynccontextmanager
async def balancer(backends: list[int]) -> AsyncIterator[int]:
    """Listen on a free loopback port (yielded) and spread connections over ``backends``
    (ports on 127.0.0.1; the list may change while it runs)."""
    turn = itertools.count()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for _ in range(len(backends)):
            port = backends[next(turn) % len(backends)]
            try:
                server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
            return
        client_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
