"""The one composition of the network side, for the server (app.py) and the command line
(cli.py): the outbound client signing as the instance actor, the blocklist, the key
resolver and the note fetcher. Built here once, so the two never drift apart."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import AddressPolicy, FederationClient, InstanceSigner
from fedi_forum.federation.keys import KeyResolver
from fedi_forum.federation.mail import SmtpMailer
from fedi_forum.forum.notes import NoteFetcher
from fedi_forum.forum.notifications import Notifier
from fedi_forum.store import Store
from fedi_forum.store.keyfiles import INSTANCE_KEY
from fedi_forum.store.keyring import Keyring


@dataclasses.dataclass(frozen=True, slots=True)
class Federation:
    client: FederationClient
    blocklist: Blocklist
    keys: KeyResolver
    notes: NoteFetcher


@contextlib.asynccontextmanager
async def federation(
    settings: Settings, store: Store, keyring: Keyring
) -> AsyncIterator[Federation]:
    """The network side, started (the instance key must exist); closed on exit."""
    urls = Urls(settings.base_url)
    client = FederationClient(
        policy=AddressPolicy(allow_loopback=settings.allow_loopback),
        signer=InstanceSigner(urls.key_id(urls.instance_actor), await keyring.load(INSTANCE_KEY)),
        base_url=settings.base_url,
    )
    await client.start()
    try:
        blocklist = Blocklist(store)
        await blocklist.reload()
        keys = KeyResolver(store, client, blocklist)
        yield Federation(client, blocklist, keys, NoteFetcher(client, keys, blocklist))
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def notifier(settings: Settings, store: Store) -> AsyncIterator[Notifier | None]:
    """The moderators' mail (forum/notifications.py), running beside a delivery worker
    when an SMTP server and addresses are set; None otherwise."""
    if not (settings.smtp_url and settings.moderator_addresses):
        yield None
        return
    host = urlsplit(settings.base_url).hostname or "localhost"
    mailer = SmtpMailer(settings.smtp_url, settings.mail_from or f"fedi-forum@{host}")
    running = Notifier(settings, store, mailer)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()
