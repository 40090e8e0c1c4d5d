"""``serve --workers N``: N uvicorn processes, each with a listening socket of its own
on the same port (``SO_REUSEPORT``), so that the kernel spreads connections over them.

Why not uvicorn's own ``--workers``: its processes share one listening socket, and a
process that wakes accepts every connection waiting. Keep-alive connections opened
together (a load generator, a proxy filling its pool, a busy peer) then stay unevenly
spread for their whole life: measured with ``ss`` during bench/reads.py, 64
connections split 33/31, 47/17 and 60/4 between two processes in consecutive runs.
With a socket per process Linux hashes each new connection to one of them: 32/32 give
or take a few (bench/README.md, "Spreading connections", for what it changed).

Linux only: elsewhere ``SO_REUSEPORT`` does not spread connections (on macOS the last
socket bound gets them all), so ``serve`` uses uvicorn's shared socket there.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start
RESTART_PAUSE = 1.0  # seconds between restarts of a process that died, at most one a second
STOP_TIMEOUT = 30.0  # a process still running this long after SIGTERM is killed


def spreads_connections() -> bool:
    """Whether this system spreads a port's connections over the sockets bound to it."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A socket of this process's own on (host, port), in the port's reuse group
    (``shared``). Not yet listening: uvicorn's server calls listen() with its backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def port_is_free(host: str, port: int) -> None:
    """Raise OSError (address in use) unless nothing listens on (host, port). Bound
    without SO_REUSEPORT, so another server's reuse group — a second `serve` started by
    mistake, perhaps an older version — is refused too, instead of silently sharing
    the port with it."""
    listening_socket(host, port, shared=False).close()


def _child(app: str, options: dict[str, Any], factory: bool) -> None:
    """One server process: its own socket, then uvicorn until SIGTERM. Exits with
    STARTUP_FAILURE if it could not start (the port, the app's startup), which stops
    the others: restarting it would fail the same way, once a second."""
    import uvicorn

    config = uvicorn.Config(app, factory=factory, **options)
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run(app: str, workers: int, options: dict[str, Any], *, factory: bool = True) -> int:
    """Run ``workers`` server processes of ``app`` (an import string: of a factory, or
    with ``factory`` false of the ASGI app, as the benches' ceilings are) until
    SIGINT or SIGTERM; a process that dies is started again. Returns the exit code.
    Call ``port_is_free`` first: children that cannot bind would only be restarted."""
    context = multiprocessing.get_context("spawn")  # no state of this process inherited
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    def start() -> BaseProcess:
        process = context.Process(target=_child, args=(app, options, factory), daemon=False)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    failed = False
    try:
        while not failed and not stop.wait(RESTART_PAUSE):
            for i, process in enumerate(processes):
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a server process could not start; stopping")
                    failed = True
                    break
                if not process.is_alive():
                    log.warning(
                        "server process %s ended (exit code %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                    processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests and stops
        for process in processes:
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
    return 1 if failed else 0
