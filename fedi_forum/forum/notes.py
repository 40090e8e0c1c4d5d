"""Remote notes: fetched from their origin with the origin rules, and turned into what
we store. Shared by the inbox (replies to our discussions) and by the discussions we
follow on other servers."""

from __future__ import annotations

import dataclasses
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
from fedi_forum.store.primitives import FollowUpBuilder, RelayBuilder, Sharer

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


def _announce(
    actor: str,
    followers: str,
    activity_id: str,
    *,
    note_id: str,
    author: str | None,
    published: str,
    create: Mapping[str, Any] | None,
) -> Outgoing:
    """``actor`` (a group or a category) shares a note: microblog servers get
    ``Announce{object: note id}`` (Mastodon shows a boost), group servers the ``Create``
    inside the Announce (FEP-1b12) when we hold one to pass on verbatim, else the same
    plain Announce. ``author`` is cc'd so their server shows the boost."""
    plain = vocab.announce(
        activity_id,
        group_id=actor,
        followers=followers,
        object_id=note_id,
        author=author,
        published=published,
    )
    wrapped = None
    if create is not None:
        wrapped = vocab.announce_activity(
            activity_id, group_id=actor, followers=followers, activity=create, published=published
        )
    return Outgoing(
        activity_id,
        orjson.dumps(plain).decode(),
        actor,
        orjson.dumps(wrapped).decode() if wrapped is not None else None,
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
    """The group shares its message ``seq`` (the one builder of it; see ``_announce``)."""
    return _announce(
        urls.group(slug),
        urls.followers(slug),
        urls.announce(slug, seq),
        note_id=note_id,
        author=author,
        published=published,
        create=create,
    )


def category_relay(
    urls: Urls,
    *,
    author: str | None,
    published: str,
    create: Mapping[str, Any] | None,
) -> RelayBuilder:
    """A category that boosts its discussions' replies shares this one too (the same
    forms as the group's, from the category, to its followers)."""

    def build(category: str, note_id: str) -> Outgoing:
        return _announce(
            urls.category(category),
            urls.category_followers(category),
            urls.category_announce(category, note_id),
            note_id=note_id,
            author=author,
            published=published,
            create=create,
        )

    return build


def category_announces(
    urls: Urls,
    categories: Sequence[Category],
    object_id: str,
    activity: Mapping[str, Any],
    now: str,
) -> list[tuple[int, Outgoing]]:
    """Each category's boost of a new discussion's opening post ``object_id``, for its
    followers (``_announce``; the delivery worker picks the form by server)."""
    return [
        (
            c.id,
            _announce(
                urls.category(c.slug),
                urls.category_followers(c.slug),
                urls.category_announce(c.slug, object_id),
                note_id=object_id,
                author=None,
                published=now,
                create=activity,
            ),
        )
        for c in categories
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Sharing:
    """A ``Sharer`` in URLs: who sends, to which followers, what its Announce of the
    note was, and where the ids it mints about the note begin."""

    actor: str
    followers: str
    announce_id: str
    base: str

    @classmethod
    def of(cls, urls: Urls, sharer: Sharer, note_id: str) -> Sharing:
        if sharer.category is None:
            assert sharer.announce_id is not None  # the group's is read from its outbox
            return cls(
                urls.group(sharer.slug),
                urls.followers(sharer.slug),
                sharer.announce_id,
                urls.note(sharer.slug, sharer.seq),
            )
        announce_id = urls.category_announce(sharer.category, note_id)
        return cls(
            urls.category(sharer.category),
            urls.category_followers(sharer.category),
            announce_id,
            announce_id,
        )


def passed_on(
    urls: Urls, activity: Mapping[str, Any], kind: str, *, skip_host: str | None = None
) -> FollowUpBuilder:
    """What the followers of a sharer get when a message it shared is edited or deleted
    by its author (``activity``, the author's Update or Delete; ``kind`` "update" |
    "delete"). Group servers: that activity, verbatim, inside the sharer's Announce
    (FEP-1b12). Microblog servers: nothing for an edit (they refetch the note),
    ``Undo{Announce}`` for a deletion (the boost disappears). ``skip_host``: the
    author's server, which has it already."""

    def build(sharer: Sharer, note_id: str) -> Outgoing:
        by = Sharing.of(urls, sharer, note_id)
        activity_id = urls.follow_up(by.base, kind, str(activity["id"]))
        group_form = vocab.announce_activity(
            activity_id,
            group_id=by.actor,
            followers=by.followers,
            activity=activity,
            published=utcnow(),
        )
        microblog = ""  # "" = nothing to send to microblog servers
        if kind == "delete":
            microblog = orjson.dumps(
                vocab.undo(urls.undo(activity_id), by.actor, by.followers, by.announce_id)
            ).decode()
        return Outgoing(
            activity_id,
            microblog,
            by.actor,
            orjson.dumps(group_form).decode(),
            skip_host=skip_host,
            subject=note_id,
        )

    return build


def group_removal(urls: Urls, label: str) -> FollowUpBuilder:
    """What the followers of a discussion (and of a category that boosted the reply)
    get when a reply it shared leaves public view without a Delete of its author's to
    pass on (a moderator removed it, ``label`` "removed"; its author narrowed its
    audience, "withdrawn"): group servers the sharer's own ``Delete`` inside an
    ``Announce`` (FEP-1b12), microblog servers an ``Undo`` of its boost. Nothing of the
    note's new text goes out."""

    def build(sharer: Sharer, note_id: str) -> Outgoing:
        by = Sharing.of(urls, sharer, note_id)
        delete_id = urls.withdrawal(by.base, label)
        delete = vocab.delete_note(
            delete_id, group_id=by.actor, followers=by.followers, note_id=note_id
        )
        group_form = vocab.announce_activity(
            f"{delete_id}/announce",
            group_id=by.actor,
            followers=by.followers,
            activity=delete,
            published=utcnow(),
        )
        undo = vocab.undo(urls.undo(delete_id), by.actor, by.followers, by.announce_id)
        return Outgoing(
            f"{delete_id}/announce",
            orjson.dumps(undo).decode(),
            by.actor,
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
