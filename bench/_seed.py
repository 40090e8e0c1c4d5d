"""Seeding a bench's data directory before its server starts: the forum's store opened
on the directory, the remote author whose signed replies the bench posts, and servers
whose software is already known (a warm NodeInfo cache, so no bench measures NodeInfo
fetches)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.models import RemoteActor, utcnow
from fedi_forum.store import Database, Store
from fedi_forum.store.keyfiles import KeyFiles

AUTHOR = "http://remote.invalid/users/writer"


@contextlib.asynccontextmanager
async def seeding(settings: Settings, author_pem: str) -> AsyncIterator[Discussions]:
    """The forum's services on the data directory, with the base URL claimed and the
    signing author known; closed afterwards."""
    db = Database(settings.db_path)
    await db.open()
    try:
        store = Store(db)
        await store.claim_base_url(settings.base_url)
        await store.upsert_actor(
            RemoteActor(
                id=AUTHOR,
                host="remote.invalid",
                type="Person",
                preferred_username="writer",
                name="Writer",
                url=None,
                icon_url=None,
                inbox=None,
                shared_inbox=None,
                key_id=f"{AUTHOR}#main-key",
                public_key_pem=author_pem,
                fetched_at=utcnow(),
            )
        )
        yield Discussions(settings, store, KeyFiles(settings.keys_dir))
    finally:
        await db.close()


async def known_servers(store: Store, hosts: Iterable[str], version: str = "4.5") -> None:
    """Mark these servers as Mastodon (microblog dialect) already looked up."""
    now = utcnow()
    for host in hosts:
        await store.set_instance_software(
            host, software="mastodon", version=version, dialect="microblog", now=now
        )
