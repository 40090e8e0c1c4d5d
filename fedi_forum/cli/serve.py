"""``serve`` (uvicorn, one or more processes) and ``worker`` (the delivery worker alone)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from fedi_forum import compose, logs
from fedi_forum.cli import processes
from fedi_forum.cli.context import (
    federation_of,
    with_services,
)
from fedi_forum.config import Settings
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.discussions import Discussions

SETTINGS_ENV = "FEDI_FORUM_SETTINGS_JSON"  # parent → uvicorn worker processes only


def uvicorn_log_config(*, json: bool, with_client: bool, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's logging setup: its access line without the visitor's address unless
    asked (the about page promises no IP addresses are kept), JSON when asked, and the
    request id on every record."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    client = "%(client_addr)s - " if with_client else ""
    config["formatters"]["access"]["fmt"] = (
        f'%(levelprefix)s {client}"%(request_line)s" %(status_code)s %(request_id)s'
    )
    if json:
        config["formatters"]["default"] = {"()": logs.JsonFormatter}
        config["formatters"]["access"] = {
            "()": logs.AccessJsonFormatter,
            "with_client": with_client,
        }
    config["filters"] = {"request_id": {"()": logs.RequestIdFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["request_id"]
    # our own loggers (fedi_forum.*) go through the same handler and format
    config["loggers"]["fedi_forum"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def serve(args: argparse.Namespace, settings: Settings, explicit: bool) -> int:
    import uvicorn

    if not explicit and not (args.host in LOOPBACK_HOSTS or args.host.startswith("127.")):
        # Reachable from elsewhere, the base URL must be the public one: it is recorded
        # in the data directory on first start and every id embeds it.
        print(
            f"error: listening on {args.host} needs the public base URL: set "
            "FEDI_FORUM_BASE_URL (or --base-url), e.g. https://forum.gemeente.nl",
            file=sys.stderr,
        )
        return 2

    async def prepare(s: Settings, discussions: Discussions) -> Settings:
        await discussions.republish_openings()
        await Categories(s, discussions.store, discussions.keyring).ensure_forum()
        if args.demo:
            await discussions.ensure_demo()
        return s

    listening = settings.base_url
    settings = asyncio.run(with_services(settings, explicit, prepare))
    recorded = urlsplit(settings.base_url).hostname or ""
    if (
        not explicit
        and settings.base_url != listening
        and (recorded in LOOPBACK_HOSTS or recorded.startswith("127."))
    ):
        # A demo data directory made on another port (`make run PORT=…` after `make
        # run`): serving it here would publish ids and links to a port nobody listens on.
        print(
            f"error: this data directory was created for {settings.base_url}, and every id "
            f"it published embeds that URL; this server would be {listening}. Serve it on "
            f"that port, or start over with `make reset` (removes data/ and the keys) or "
            f"another --data-dir/--keys-dir.",
            file=sys.stderr,
        )
        return 2
    settings = dataclasses.replace(settings, trust_request_id=args.proxy_headers)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips or settings.trusted_proxies,
        "server_header": False,
        "date_header": True,
        # No uvicorn limit_concurrency: it counts open keep-alive connections, so a few
        # more idle connections than the limit made it refuse every request (measured).
        # The app admits max_in_flight at a time instead (web/guard.py);
        # bounding connections is the reverse proxy's job.
        "backlog": 2048,
        "access_log": not args.no_access_log,
        "log_config": uvicorn_log_config(
            json=settings.log_format == "json",
            with_client=args.log_client_addresses,
            level=args.log_level,
        ),
    }
    spread = args.workers > 1 and processes.spreads_connections()
    if spread:
        try:
            processes.port_is_free(args.host, args.port)  # before saying it serves
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
    print(f"fedi-forum serving {settings.base_url} (listening on {args.host}:{args.port})")
    if args.workers > 1:
        os.environ[SETTINGS_ENV] = orjson.dumps(dataclasses.asdict(settings), default=str).decode()
        # prometheus-client's multiprocess mode: every worker's metrics in files here, a
        # scrape of any worker sums them (web/metrics.py). Fresh for each start.
        shared = Path(tempfile.mkdtemp(prefix="fedi-forum-metrics-"))
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(shared))
        factory = "fedi_forum.cli.serve:app_from_env"
        if spread:  # a listening socket per process (cli/processes.py)
            return processes.run(factory, args.workers, options)
        uvicorn.run(factory, factory=True, workers=args.workers, **options)
    else:
        from fedi_forum.app import create_app

        uvicorn.run(create_app(settings), **options)
    return 0


def app_from_env() -> Any:
    """uvicorn worker processes rebuild the parent's settings from the environment."""
    from fedi_forum.app import create_app

    values: dict[str, Any] = orjson.loads(os.environ[SETTINGS_ENV])
    return create_app(Settings.load({}, **values))


def worker(settings: Settings, explicit: bool, log_level: str) -> int:
    """Run only the delivery worker until SIGINT/SIGTERM."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s %(message)s")

    async def run(s: Settings, discussions: Discussions) -> int:
        from fedi_forum.federation.delivery import DeliveryWorker

        async with (
            federation_of(s, discussions) as fed,
            compose.notifier(s, discussions.store),
        ):
            worker = DeliveryWorker(
                s, discussions.store, fed.client, discussions.keyring, fed.blocklist
            )
            await worker.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print(f"fedi-forum worker delivering for {s.base_url}", flush=True)
            try:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 10)
                    await fed.blocklist.maybe_reload()
            finally:
                await worker.stop()
        return 0

    return asyncio.run(with_services(settings, explicit, run))
