"""Seed discussions with remote replies through the real store API (no SQL here)."""

from __future__ import annotations

from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.models import Discussion, NewNote, RemoteActor, utcnow
from fedi_forum.store import Store

REMOTE = "https://mastodon.example"


def remote_actor(name: str = "alice", display: str = "Alice") -> RemoteActor:
    return RemoteActor(
        id=f"{REMOTE}/users/{name}",
        host="mastodon.example",
        type="Person",
        preferred_username=name,
        name=display,
        url=f"{REMOTE}/@{name}",
        icon_url=f"{REMOTE}/avatars/{name}.png",
        inbox=f"{REMOTE}/users/{name}/inbox",
        shared_inbox=f"{REMOTE}/inbox",
        key_id=f"{REMOTE}/users/{name}#main-key",
        public_key_pem=None,
        fetched_at=utcnow(),
    )


async def add_replies(
    store: Store,
    d: Discussion,
    count: int,
    *,
    actor: RemoteActor | None = None,
    content: str | None = None,
    in_reply_to: str | None = None,
    start: int = 0,
) -> list[int]:
    actor = actor or remote_actor()
    await store.upsert_actor(actor)
    seqs = []
    for i in range(start, start + count):
        now = utcnow()
        seq = await store.append_note(
            d.id,
            NewNote(
                ap_id=f"{REMOTE}/users/{actor.preferred_username}/statuses/{d.id}-{i}",
                activity_id=f"{REMOTE}/users/{actor.preferred_username}/statuses/{d.id}-{i}/activity",
                author_id=actor.id,
                in_reply_to=in_reply_to,
                content=clean_html(content if content is not None else f"<p>reply number {i}</p>"),
                summary=None,
                sensitive=False,
                lang="nl",
                url=None,
                visibility="public",
                published=now,
                updated=None,
                raw=None,
                accepted_at=now,
            ),
        )
        assert seq is not None
        seqs.append(seq)
    return seqs
