"""create_app(settings): the composition root. Everything long-lived is opened in the
lifespan and closed in reverse order; nothing happens at import time."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect

from fedi_forum import __version__, compose
from fedi_forum.activitypub import keys
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError
from fedi_forum.federation.delivery import DeliveryWorker
from fedi_forum.forum.categories import Categories
from fedi_forum.forum.discussions import Discussions
from fedi_forum.forum.inbox import Inbox
from fedi_forum.forum.proposals import Proposals
from fedi_forum.forum.remote import RemoteDiscussions
from fedi_forum.forum.staff import Staff
from fedi_forum.forum.views import ViewCounter
from fedi_forum.store import Store
from fedi_forum.store.archive_files import ArchiveFiles
from fedi_forum.store.engine import engine_for
from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.keyring import keyring_for
from fedi_forum.web import path_for, routes
from fedi_forum.web.admission import Load
from fedi_forum.web.errors import (
    on_client_gone,
    on_forum_error,
    on_http_exception,
    on_unexpected,
)
from fedi_forum.web.guard import GuardMiddleware
from fedi_forum.web.i18n import Renderer
from fedi_forum.web.media import MediaProxy
from fedi_forum.web.metrics import Metrics
from fedi_forum.web.ratelimit import RateLimiter, TokenBuckets
from fedi_forum.web.state import Services
from fedi_forum.web.static_files import load_static

log = logging.getLogger(__name__)


YOUNG_THRESHOLD = 7_000  # net new objects between young collections (default 700)


def create_app(settings: Settings, *, demo: bool = False) -> Starlette:
    """Build the ASGI app. With ``demo``, a demo discussion is created on first start."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(metrics.flush)  # the last requests' counts, when all else closed
            db = engine_for(settings)
            db.writer.telemetry = metrics
            db.take_turns()  # web processes' write batches (PostgreSQL: measured there)
            await db.open()
            stack.push_async_callback(db.close)
            store = Store(db)
            await store.keep_shown_rows()  # a page or actor GET needs no query
            keyring = await keyring_for(settings, store)
            instance_key = await keyring.load_or_create(INSTANCE_KEY)
            discussions = Discussions(settings, store, keyring)
            if demo:
                await discussions.ensure_demo()
            urls = Urls(settings.base_url)
            fed = await stack.enter_async_context(compose.federation(settings, store, keyring))
            client, blocklist, keys_resolver, notes = fed.client, fed.blocklist, fed.keys, fed.notes
            keys_resolver.telemetry = metrics
            worker = None
            if settings.run_worker:
                worker = DeliveryWorker(settings, store, client, keyring, blocklist)
                worker.telemetry = metrics
                worker.busy = load.busy  # yields to this process's requests
                await worker.start()
                stack.push_async_callback(worker.stop)
                # the moderators' mail runs where deliveries do (one per host, usually)
                await stack.enter_async_context(compose.notifier(settings, store))
            remote = RemoteDiscussions(settings, store, keys_resolver, client, notes)
            await remote.start()  # the backfill jobs
            stack.push_async_callback(remote.stop)
            media = MediaProxy(
                settings.base_url, await keyring.load_or_create_secret("media"), client
            )
            limits = await keyring.load_or_create_secret("ratelimit")
            views = ViewCounter(store)
            await views.start()
            stack.push_async_callback(views.stop)
            app.state.services = Services(
                settings=settings,
                urls=urls,
                store=store,
                discussions=discussions,
                categories=Categories(settings, store, keyring),
                views=views,
                renderer=Renderer(
                    {"version": __version__, "path": path_for(app.router)},
                    settings.timezone,
                    media.url_for,
                ),
                instance_public_key_pem=keys.public_pem(instance_key),
                static=load_static(),
                blocklist=blocklist,
                keys=keys_resolver,
                inbox=Inbox(
                    settings,
                    store,
                    keys_resolver,
                    notes,
                    blocklist,
                    remote,
                    Proposals(settings, store, discussions),
                ),
                remote=remote,
                delivery=worker,
                report_limiter=RateLimiter(store, "report", limit=5, window=600, secret=limits),
                login_limiter=RateLimiter(store, "login", limit=10, window=600, secret=limits),
                inbox_by_client=TokenBuckets(settings.inbox_rate, int(settings.inbox_rate * 10)),
                inbox_by_server=TokenBuckets(settings.inbox_rate, int(settings.inbox_rate * 10)),
                staff=Staff(store, await keyring.load_or_create_secret("session")),
                client=client,
                interact_limiter=RateLimiter(
                    store, "interact", limit=20, window=600, secret=limits
                ),
                media=media,
                metrics=metrics,
                files=ArchiveFiles(settings.data_dir / "files"),
            )
            log.info("fedi-forum %s serving %s", __version__, settings.base_url)
            # Everything alive now (modules, templates, the stemmers' tables, the
            # services) lives as long as the process: out of the collector's sight, so
            # a full collection, which pauses the event loop, scans only what came
            # after. Measured: a full collection of a started app with a rendered
            # 2,000-reply discussion took 34 ms, and one of 46-49 ms was seen in each
            # serving process during a 4 s G3-mixed run (bench/README.md, G3-mixed).
            gc.freeze()
            # A young collection every 7,000 net new objects, not 700: a request's
            # objects are freed by their reference counts when it ends, so most never
            # reach a collection, and the rarer older collections come rarer still.
            # Measured (bench/inbox_cost.py's load, 8,000 replies): 1,038 young, 94
            # middle and 9 full collections, 31-40 µs of a reply's CPU, pauses up to
            # 9-19 ms (the inbox's p99 at c8 is 12-15 ms) → 15 and 1, 2-3 µs, at most
            # 5-8 ms. Garbage in cycles waits a little longer (G6's 15 s at c512/c2048
            # grew the process by +0 MB in the full make bench after this).
            thresholds = gc.get_threshold()
            gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
            try:
                yield
            finally:
                gc.set_threshold(*thresholds)
                gc.unfreeze()  # a process that builds apps again (the tests) frees this one

    metrics = Metrics()  # before the middleware, which counts every request into it
    load = Load()  # the middleware counts requests in flight; the worker yields to them

    return Starlette(
        routes=routes(),
        middleware=[
            Middleware(
                GuardMiddleware,
                max_in_flight=settings.max_in_flight,
                trust_request_id=settings.trust_request_id,
                metrics=metrics,
                load=load,
            )
        ],
        exception_handlers={
            FediForumError: on_forum_error,
            ClientDisconnect: on_client_gone,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
