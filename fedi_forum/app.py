"""create_app(settings): the composition root. Everything long-lived is opened in the
lifespan and closed in reverse order; nothing happens at import time."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from fedi_forum import __version__
from fedi_forum.activitypub import keys
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError
from fedi_forum.forum.discussions import Discussions
from fedi_forum.forum.views import ViewCounter
from fedi_forum.store import Database, Store
from fedi_forum.store.keyfiles import INSTANCE_KEY, KeyFiles
from fedi_forum.web import routes
from fedi_forum.web.errors import (
    GuardMiddleware,
    on_forum_error,
    on_http_exception,
    on_unexpected,
)
from fedi_forum.web.i18n import Renderer
from fedi_forum.web.state import Services
from fedi_forum.web.static_files import load_static

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, demo: bool = False) -> Starlette:
    """Build the ASGI app. With ``demo``, a demo discussion is created on first start."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.db_path)
        await db.open()
        try:
            store = Store(db)
            key_files = KeyFiles(settings.keys_dir)
            instance_key = key_files.load_or_create(INSTANCE_KEY)
            discussions = Discussions(settings, store, key_files)
            if demo:
                await discussions.ensure_demo()
            views = ViewCounter(store)
            await views.start()
            app.state.services = Services(
                settings=settings,
                urls=Urls(settings.base_url),
                store=store,
                discussions=discussions,
                views=views,
                renderer=Renderer({"version": __version__}, settings.timezone),
                instance_public_key_pem=keys.public_pem(instance_key),
                static=load_static(),
            )
            log.info("fedi-forum %s serving %s", __version__, settings.base_url)
            try:
                yield
            finally:
                await views.stop()
        finally:
            await db.close()

    return Starlette(
        routes=routes(),
        middleware=[Middleware(GuardMiddleware)],
        exception_handlers={
            FediForumError: on_forum_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
