"""Remote notes: fetched from their origin with the origin rules, and turned into what
we store. Shared by the inbox (replies to our discussions) and by the discussions we
follow on other servers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from fedi_forum.activitypub import content, parse, vocab
from fedi_forum.activitypub.parse import Activity, IncomingNote
from fedi_forum.activitypub.sanitize import clean_html
from fedi_forum.activitypub.urls import Urls
from fedi_forum.errors import FediForumError, FetchError, InvalidActivity
from fedi_forum.federation import dereference
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.client import FederationClient
from fedi_forum.federation.dereference import Trust
from fedi_forum.federation.keys import KeyResolver
from fedi_forum.models import Category, NewNote, RemoteActor, utcnow
from fedi_forum.store import Outgoing
from fedi_forum.store.primitives import FollowUpBuilder

log = logging.getLogger(__name__)

MAX_CONTENT = 50_000  # characters of sanitized HTML kept per note
# The types whose ``summary`` is a content warning: the ones Mastodon shows as statuses.
WARNING_TYPES = frozenset({"Note", "Question"})
T = TypeVar("T")


def new_note(
    note: IncomingNote, now: str, *, activity_id: str | None, raw: dict[str, Any] | None = None
) -> NewNote:
    """What we keep of a remote note: sanitized HTML (an Article's title in bold on top,
    attachments as links), a plain-text content warning. On the types Mastodon
    converts (an ``Article``'s lead, NodeBB's and ours) ``summary`` is no warning
    (docs/rules.md §17)."""
    html = note.content
    if note.name and note.type in ("Article", "Page", "Question"):
        html = content.opening_post_html(note.name, html)
    html = clean_html(html + parse.attachments_html(note.attachments))[:MAX_CONTENT]
    summary = None
    if note.summary and note.type in WARNING_TYPES:
        summary = content.html_to_text(note.summary)[:500]
    return NewNote(
        ap_id=note.id,
        activity_id=activity_id,
        author_id=note.attributed_to or "",
        in_reply_to=note.in_reply_to,
        content=html,
        summary=summary,
        sensitive=note.sensitive or bool(summary),
        lang=note.lang,
        url=note.url,
        visibility=note.visibility,
        published=note.published or now,
        updated=note.updated,
        raw=orjson.dumps(raw).decode() if raw is not None else None,
        accepted_at=now,
    )


def group_announce(
    urls: Urls,
    slug: str,
    seq: int,
    *,
    note_id: str,
    author: str | None,
    published: str,
    create: Mapping[str, Any] | None,
) -> Outgoing:
    """The group shares its message ``seq`` (the one builder of it): microblog servers
    get ``Announce{object: note id}`` (Mastodon shows a boost), group servers the
    ``Create`` inside the Announce (FEP-1b12) when we hold one to pass on verbatim, else
    the same plain Announce. ``author`` is cc'd so their server shows the boost."""
    group, followers = urls.group(slug), urls.followers(slug)
    activity_id = urls.announce(slug, seq)
    plain = vocab.announce(
        activity_id,
        group_id=group,
        followers=followers,
        object_id=note_id,
        author=author,
        published=published,
    )
    wrapped = None
    if create is not None:
        wrapped = vocab.announce_activity(
            activity_id, group_id=group, followers=followers, activity=create, published=published
        )
    return Outgoing(
        activity_id,
        orjson.dumps(plain).decode(),
        group,
        orjson.dumps(wrapped).decode() if wrapped is not None else None,
    )


def category_announces(
    urls: Urls,
    categories: Sequence[Category],
    object_id: str,
    activity: Mapping[str, Any],
    now: str,
) -> list[tuple[int, Outgoing]]:
    """Each category's boost of ``object_id`` (a new discussion's opening post, or a
    reply), for its followers: ``Announce{id}`` for Mastodon and the FEP-1b12
    ``Announce{Create}`` for group servers (the delivery worker picks by server)."""
    out = []
    for c in categories:
        actor = urls.category(c.slug)
        announce_id = urls.category_announce(c.slug, object_id)
        plain = vocab.announce(
            announce_id,
            group_id=actor,
            followers=urls.category_followers(c.slug),
            object_id=object_id,
            author=None,
            published=now,
        )
        wrapped = vocab.announce_activity(
            announce_id,
            group_id=actor,
            followers=urls.category_followers(c.slug),
            activity=activity,
            published=now,
        )
        out.append(
            (
                c.id,
                Outgoing(
                    announce_id,
                    orjson.dumps(plain).decode(),
                    actor,
                    group_payload=orjson.dumps(wrapped).decode(),
                ),
            )
        )
    return out


def group_removal(urls: Urls, label: str) -> FollowUpBuilder:
    """What the followers of a discussion get when a reply it shared leaves public view
    without a Delete of its author's to pass on (a moderator removed it, ``label``
    "removed"; its author narrowed its audience, "withdrawn"): group servers the group's
    own ``Delete`` inside an ``Announce`` (FEP-1b12), microblog servers an ``Undo`` of
    the group's boost. Nothing of the note's new text goes out."""

    def build(slug: str, seq: int, announce_id: str, note_id: str) -> Outgoing:
        group = urls.group(slug)
        followers = urls.followers(slug)
        delete_id = urls.withdrawal(slug, seq, label)
        delete = vocab.delete_note(delete_id, group_id=group, followers=followers, note_id=note_id)
        group_form = vocab.announce_activity(
            f"{delete_id}/announce",
            group_id=group,
            followers=followers,
            activity=delete,
            published=utcnow(),
        )
        undo = vocab.undo(urls.undo(delete_id), group, followers, announce_id)
        return Outgoing(
            f"{delete_id}/announce",
            orjson.dumps(undo).decode(),
            group,
            orjson.dumps(group_form).decode(),
            subject=note_id,
        )

    return build


class NoteFetcher:
    def __init__(self, client: FederationClient, keys: KeyResolver, blocklist: Blocklist) -> None:
        self.client = client
        self.keys = keys
        self.blocklist = blocklist

    async def fetch(self, object_id: str) -> tuple[dict[str, Any], RemoteActor]:
        """A note from its origin: the fetched id must be the URL, and its author must
        live on the same host (FEDERATION.md "Identity and origin")."""
        try:
            fetched = await dereference.document(self.client, self.blocklist, object_id)
        except FetchError as exc:
            raise InvalidActivity(
                f"fetching {object_id}: {exc}", public_message="object not found at its origin"
            ) from exc
        doc, author_id = dereference.note(fetched, object_id)
        author = await self.keys.fetch_actor(author_id)
        return doc, author

    async def trusted(
        self,
        doc: dict[str, Any] | None,
        object_id: str,
        sender: RemoteActor,
        activity: Activity | None = None,
        *,
        trust: Trust = Trust.SIGNER,
    ) -> tuple[IncomingNote, dict[str, Any], RemoteActor]:
        """The note ``object_id`` as we may believe it under ``trust``: an embedded copy
        counts only when the signer wrote it (or, with ``Trust.SIGNERS_SERVER``, when the
        signer's server hosts it, as a group does for its own posts); anything else
        (forwarded, announced by a group for another server, or only an id) is fetched
        from its origin (FEDERATION.md "Identity and origin")."""
        if doc is not None and parse.types_of(doc) & parse.NOTE_TYPES:
            note = parse.parse_note(doc, activity)
            if note.id == object_id and parse.host_of(note.id) == parse.host_of(sender.id):
                if note.attributed_to == sender.id:
                    return note, doc, sender
                author_id = note.attributed_to
                vouched = trust is Trust.SIGNERS_SERVER
                if vouched and author_id and parse.host_of(author_id) == sender.host:
                    author = await self.try_actor(author_id)
                    if author is not None:
                        return note, doc, author
        fetched, author = await self.fetch(object_id)
        return parse.parse_note(fetched), fetched, author

    async def parent_chain(
        self, note: IncomingNote, held: Callable[[str], Awaitable[T | None]], depth: int
    ) -> tuple[T | None, list[IncomingNote]]:
        """Walk ``inReplyTo`` up from ``note``: stop at the first parent ``held`` knows
        (returning what it says), after ``depth`` fetched parents, or at one that cannot
        be fetched or is not public. Also returns the parents fetched, newest first, so
        the caller can store the thread complete."""
        parents: list[IncomingNote] = []
        parent_id = note.in_reply_to
        seen = {note.id}
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            found = await held(parent_id)
            if found is not None:
                return found, parents
            if len(parents) == depth:
                break
            try:
                doc, _ = await self.fetch(parent_id)
                parent = parse.parse_note(doc)
            except FediForumError as exc:
                log.info("could not fetch parent %s: %s", parent_id, exc)
                break
            if parent.visibility == "private":
                break
            parents.append(parent)
            parent_id = parent.in_reply_to
        return None, parents

    async def try_actor(self, actor_id: str) -> RemoteActor | None:
        try:
            return await self.keys.fetch_actor(actor_id)
        except FediForumError:
            return None
