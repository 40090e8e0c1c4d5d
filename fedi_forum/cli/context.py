"""What every command starts from: the settings (flags over environment over
defaults), the base-URL guard, and the store and services opened for one command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fedi_forum import compose
from fedi_forum.compose import Federation
from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.store import Store
from fedi_forum.store.engine import engine_for
from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.keyring import keyring_for

T = TypeVar("T")


class BaseUrlMismatch(Exception):
    pass


def settings_from(args: argparse.Namespace, environ: dict[str, str]) -> Settings:
    base_url = args.base_url
    if (
        base_url is None
        and getattr(args, "port", None) is not None
        and not environ.get("FEDI_FORUM_BASE_URL")
    ):
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
        base_url = f"http://{host}:{args.port}"
    return Settings.load(
        environ,
        base_url=base_url,
        data_dir=args.data_dir,
        database_url=getattr(args, "database_url", None),
        keys_dir=args.keys_dir,
        secret_file=getattr(args, "secret_file", None),
        allow_loopback=getattr(args, "allow_loopback", None),
        run_worker=getattr(args, "run_worker", None),
    )


def explicit_base_url(args: argparse.Namespace, environ: dict[str, str]) -> bool:
    return args.base_url is not None or bool(environ.get("FEDI_FORUM_BASE_URL"))


async def with_services(
    settings: Settings, explicit_base: bool, fn: Callable[[Settings, Discussions], Awaitable[T]]
) -> T:
    """Open the data directory, settle the base URL, run ``fn``, close."""
    db = engine_for(settings)
    await db.open()
    try:
        store = Store(db)
        recorded = await store.recorded_base_url()
        if recorded is not None and recorded != settings.base_url:
            if explicit_base:
                raise BaseUrlMismatch(
                    f"this data directory belongs to {recorded}; every id it published "
                    f"embeds that URL, so it cannot be served as {settings.base_url}"
                )
            settings = dataclasses.replace(settings, base_url=recorded)
        await store.claim_base_url(settings.base_url)
        keyring = await keyring_for(settings, store)
        await keyring.load_or_create(INSTANCE_KEY)
        return await fn(settings, Discussions(settings, store, keyring))
    finally:
        await db.close()


def federation_of(
    s: Settings, discussions: Discussions
) -> contextlib.AbstractAsyncContextManager[Federation]:
    return compose.federation(s, discussions.store, discussions.keyring)
