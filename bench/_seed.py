"""Seeding a bench's instance before its server starts: the forum's store opened on its
storage (SQLite or PostgreSQL, bench/_engine.py), the remote author whose signed replies
the bench posts, and servers whose software is already known (a warm NodeInfo cache, so
no bench measures NodeInfo fetches)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fedi_forum.activitypub.signatures import sign_request
from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.models import RemoteActor, utcnow
from fedi_forum.store import Store
from fedi_forum.store.engine import engine_for
from fedi_forum.store.keyring import keyring_for

AUTHOR = "http://remote.invalid/users/writer"


@contextlib.asynccontextmanager
async def forum(settings: Settings) -> AsyncIterator[Discussions]:
    """The forum's services on the instance's storage (either engine), base URL claimed;
    closed afterwards."""
    db = engine_for(settings)
    await db.open()
    try:
        store = Store(db)
        await store.claim_base_url(settings.base_url)
        yield Discussions(settings, store, await keyring_for(settings, store))
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def seeding(settings: Settings, author_pem: str) -> AsyncIterator[Discussions]:
    """``forum``, with the signing author known."""
    async with forum(settings) as discussions:
        await discussions.store.upsert_actor(
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
        yield discussions


def signed_reply(base: str, key: Any, n: int, slug: str) -> tuple[str, bytes, dict[str, str]]:
    """The AUTHOR's n-th reply to discussion ``slug``'s opening post: the inbox URL, the
    Create{Note} body and its signed headers."""
    note_id = f"{AUTHOR}/statuses/{slug}-{n}"
    body = json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{note_id}/activity",
            "type": "Create",
            "actor": AUTHOR,
            "object": {
                "id": note_id,
                "type": "Note",
                "attributedTo": AUTHOR,
                "content": f"<p>reply {n}</p>",
                "inReplyTo": f"{base}/d/{slug}/m/0",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "published": "2026-11-28T10:00:00Z",
            },
        }
    ).encode()
    url = f"{base}/d/{slug}/inbox"
    headers = sign_request(
        method="POST", url=url, key_id=f"{AUTHOR}#main-key", private_key=key, body=body
    )
    return url, body, headers


async def known_servers(store: Store, hosts: Iterable[str], version: str = "4.5") -> None:
    """Mark these servers as Mastodon (microblog dialect) already looked up."""
    now = utcnow()
    for host in hosts:
        await store.set_instance_software(
            host, software="mastodon", version=version, dialect="microblog", now=now
        )
