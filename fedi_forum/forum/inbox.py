"""Receiving activities: what each one means for our discussions.

Called after the HTTP layer has checked size, type, JSON shape, blocklist and the
signature. Here: identity binding and origin rules (FEDERATION.md "Identity and origin"),
visibility and routing to a discussion (docs/rules.md §5), and one store transaction per
activity that also queues the deliveries it causes (sent by the delivery worker, never
from here). Unknown or irrelevant activities are acknowledged (202) and ignored.

One handler per activity type, in one module (over 400 lines) so that what any received
activity can do to a discussion reads as one table (``Inbox._handlers``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

import orjson

from fedi_forum.activitypub import parse, vocab
from fedi_forum.activitypub.parse import Activity, IncomingNote
from fedi_forum.activitypub.urls import LocalKind, Urls
from fedi_forum.config import Settings
from fedi_forum.errors import (
    ActorMismatch,
    Forbidden,
    InvalidActivity,
    NotFound,
)
from fedi_forum.federation.blocklist import Blocklist
from fedi_forum.federation.keys import KeyResolver, VerifiedKey
from fedi_forum.forum.notes import (
    NoteFetcher,
    category_relay,
    group_announce,
    group_removal,
    new_note,
    passed_on,
)
from fedi_forum.forum.proposals import Proposals
from fedi_forum.forum.remote import RemoteDiscussions
from fedi_forum.models import (
    Discussion,
    DiscussionState,
    RemoteActor,
    RemoteGroupState,
    utcnow,
)
from fedi_forum.store import Outgoing, Store
from fedi_forum.store.notes import DeleteResult, ReplyResult, ReplyStatus
from fedi_forum.store.primitives import FollowUpBuilder
from fedi_forum.store.reactions import UndoResult

log = logging.getLogger(__name__)

MAX_PARENT_DEPTH = 5  # inReplyTo chain fetched to find (and fill) the discussion


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What happened, for logs and tests ("accepted", "ignored: …", "duplicate")."""

    result: str
    discussion: str | None = None
    seq: int | None = None


Handler = Callable[[Activity, RemoteActor, str | None], Awaitable[Outcome]]


class Inbox:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keys: KeyResolver,
        notes: NoteFetcher,
        blocklist: Blocklist,
        remote: RemoteDiscussions,
        proposals: Proposals,
    ) -> None:
        self.settings = settings
        self.proposals = proposals
        self.store = store
        self.keys = keys
        self.blocklist = blocklist
        self.notes = notes
        self.remote = remote
        self.urls = Urls(settings.base_url)
        self._handlers: dict[str, Handler] = {
            "Follow": self._on_follow,
            "Undo": self._on_undo,
            "Create": self._on_create,
            "Update": self._on_update,
            "Delete": self._on_delete,
            "Like": self._on_reaction,
            "EmojiReact": self._on_reaction,
            "Announce": self._on_announce,
            "Accept": self._on_answer,
            "Reject": self._on_answer,
            "Flag": self._on_flag,
            "Block": self._on_block,
        }

    async def is_unknown_actor_goodbye(self, activity: Activity) -> bool:
        """Delete/Update of an actor by itself that we never heard of: acknowledge and
        drop before any signature work (a spam vector; Mastodon's
        skip_unknown_actor_activity)."""
        if activity.type not in ("Delete", "Update") or activity.object_id is None:
            return False
        if parse.strip_fragment(activity.object_id) != activity.actor:
            return False
        return await self.store.actor(activity.actor) is None

    async def receive(self, activity: Activity, signer: VerifiedKey, slug: str | None) -> Outcome:
        # The signer speaks only for itself (no relayed activities: LD signatures are not
        # trusted, docs/rules.md §10; FEDERATION.md "Identity and origin").
        if parse.strip_fragment(signer.actor.id) != activity.actor:
            raise ActorMismatch(f"signed by {signer.actor.id}, actor is {activity.actor}")
        # An activity's id names it on its actor's server; one minted on another host
        # could squat that host's ids (the dedupe) or pose as its traffic (FEDERATION.md
        # "Identity and origin").
        if parse.host_of(activity.id) != signer.actor.host:
            raise ActorMismatch(f"activity {activity.id} is not on {signer.actor.host}")
        self.blocklist.check_urls([activity.actor, *activity.to, *activity.cc])
        if activity.object_id:
            self.blocklist.check_url(activity.object_id)
        handler = self._handlers.get(activity.type)
        if handler is None:
            log.debug("ignoring %s %s", activity.type, activity.id)
            return Outcome(f"ignored: {activity.type}")
        outcome = await handler(activity, signer.actor, slug)
        log.info(
            "%s %s from %s: %s",
            activity.type,
            activity.id,
            activity.actor,
            outcome.result,
            extra={"remote_host": signer.actor.host, "activity_type": activity.type},
        )
        return outcome

    # -- routing ----------------------------------------------------------------------------

    def _local_slug(self, url: str) -> str | None:
        """``B/d/{slug}`` (or anything below it) → slug."""
        ref = self.urls.parse(url)
        return ref.slug if ref is not None and ref.slug else None

    async def _discussion(self, slug: str | None) -> Discussion | None:
        if slug is None:
            return None
        d = await self.store.discussion(slug)
        return None if d is None or d.is_deleted else d

    # -- Follow / Undo / Block --------------------------------------------------------------

    def _check_follower(self, actor: RemoteActor) -> str:
        """The follower's inbox; one on this server is refused (the group would deliver
        to itself)."""
        if actor.inbox is None:
            raise InvalidActivity("follower has no inbox")
        ours = f"{self.settings.base_url}/"
        if any(u.startswith(ours) for u in (actor.id, actor.inbox, actor.shared_inbox) if u):
            raise Forbidden(
                f"{actor.id} delivers to this server",
                public_message="a follower's inbox cannot be on this server",
            )
        return actor.inbox

    async def _on_follow(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        target = activity.object_id
        ref = self.urls.parse(target) if target else None
        if ref is not None and ref.kind is LocalKind.CATEGORY:
            return await self._follow_category(activity, actor, target, ref.slug)
        d = await self._discussion(self._local_slug(target) if target else None)
        if d is None or target != self.urls.group(d.slug):
            return Outcome("ignored: not one of our discussions")
        self._check_follower(actor)
        group = self.urls.group(d.slug)
        accepted = d.state is not DiscussionState.CLOSED
        reply_id = self.urls.answer(d.slug, activity.id, accepted)
        build = vocab.accept_follow if accepted else vocab.reject_follow
        reply = build(reply_id, group, activity.raw)
        stored = await self.store.record_follow(
            activity_id=activity.id,
            discussion_id=d.id,
            follower=actor,
            reply=Outgoing(reply_id, orjson.dumps(reply).decode(), group),
            accepted=accepted,
            now=utcnow(),
        )
        if not stored:
            return Outcome("duplicate", d.slug)
        return Outcome("accepted" if accepted else "rejected: closed", d.slug)

    async def _follow_category(
        self, activity: Activity, actor: RemoteActor, target: str | None, slug: str
    ) -> Outcome:
        """A Follow of a category (or the forum-wide actor): stored, Accept queued."""
        c = await self.store.category(slug)
        if c is None or target != self.urls.category(c.slug):
            return Outcome("ignored: not one of our categories")
        self._check_follower(actor)
        actor_id = self.urls.category(c.slug)
        reply_id = self.urls.category_answer(c.slug, activity.id)
        reply = vocab.accept_follow(reply_id, actor_id, activity.raw)
        stored = await self.store.record_follow(
            activity_id=activity.id,
            discussion_id=None,
            category_id=c.id,
            follower=actor,
            reply=Outgoing(reply_id, orjson.dumps(reply).decode(), actor_id),
            accepted=True,
            now=utcnow(),
        )
        return Outcome("accepted" if stored else "duplicate", c.slug)

    async def _on_undo(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        inner = activity.object_doc
        inner_id = activity.object_id
        if inner_id is None:
            raise InvalidActivity("Undo without an object")
        if inner is not None and parse.id_of(inner.get("actor")) not in (None, actor.id):
            raise ActorMismatch("Undo of someone else's activity")
        if parse.host_of(inner_id) != actor.host:
            raise ActorMismatch("Undo of an activity from another host")
        kind = activity.object_type
        if kind not in (None, "Follow", "Like", "EmojiReact", "Announce"):
            return Outcome(f"ignored: Undo {kind}")
        d = None
        if kind == "Follow" and inner is not None:  # also ends a follow stored by its id
            target = parse.id_of(inner.get("object"))
            d = await self._discussion(self._local_slug(target) if target else None)
        result = await self.store.undo(
            activity_id=activity.id,
            actor_id=actor.id,
            undone_id=inner_id,
            discussion_id=d.id if d else None,
            now=utcnow(),
        )
        return Outcome(
            f"accepted: {result}"
            if result in (UndoResult.FOLLOW, UndoResult.REACTION)
            else f"ignored: {result}"
        )

    async def _on_block(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        target = activity.object_id
        d = await self._discussion(self._local_slug(target) if target else None)
        if d is None:
            return Outcome("ignored: not one of our discussions")
        await self.store.remove_follow(
            activity_id=activity.id,
            actor_id=actor.id,
            follow_id=None,
            discussion_id=d.id,
            now=utcnow(),
        )
        return Outcome("accepted", d.slug)

    # -- Create -----------------------------------------------------------------------------

    async def _on_create(self, activity: Activity, actor: RemoteActor, slug: str | None) -> Outcome:
        doc = activity.object_doc
        object_id = activity.object_id
        if object_id is None:
            raise InvalidActivity("Create without an object")
        if doc is not None and not (parse.types_of(doc) & parse.NOTE_TYPES):
            return Outcome(f"ignored: Create {activity.object_type}")
        # Only the signer's own note from its own host is taken as embedded; anything
        # else (forwarded, spoofed, only an id) comes from its origin (FEDERATION.md
        # "Identity and origin").
        if doc is not None and parse.parse_note(doc, activity).attributed_to != actor.id:
            # A Create speaks only for its own actor: someone else's note is never
            # carried in by pointing at it (checked before any fetch).
            raise ActorMismatch("a Create carries only its actor's own note")
        note, doc, author = await self.notes.trusted(doc, object_id, actor, activity)
        if author.id != actor.id:  # an id-only Create: known after the origin fetch
            raise ActorMismatch("a Create carries only its actor's own note")
        if note.visibility == "private":
            return Outcome("ignored: not public")  # followers-only and direct: never content
        self.blocklist.check_urls([u for u in (note.in_reply_to, note.context) if u])
        target, parents = await self._route(note, slug)
        if target is None:
            # not for a discussion: a post that asks to start one in a category?
            category = self.proposals.addressed(note)
            if category is not None:
                return Outcome(await self.proposals.receive(category, note, author, activity.id))
            return Outcome("ignored: not for any of our discussions")
        now = utcnow()
        new_notes = [new_note(n, now, activity_id=None) for n in reversed(parents)]
        new_notes.append(new_note(note, now, activity_id=activity.id, raw=doc))
        # the search index's text, made here rather than in the writer's transaction
        self.store.prepare_index(new_notes[-1].content, new_notes[-1].lang)
        authors = await self._parent_authors(parents, author)

        # Group servers get the Create verbatim (FEP-1b12) when it embedded the note; a
        # note fetched by id goes out as a plain Announce of its id.
        verbatim = activity.raw if doc is activity.object_doc else None

        def announce(seq: int) -> Outgoing:
            return group_announce(
                self.urls,
                target,
                seq,
                note_id=note.id,
                author=author.id,
                published=now,
                create=verbatim,
            )

        # One transaction: the discussion's state is checked, the notes get their seqs,
        # the Announce and its deliveries are queued (no read before it on this path).
        result = await self.store.accept_reply(
            activity_id=activity.id,
            actor_id=actor.id,
            slug=target,
            notes=new_notes,
            authors=authors,
            announce=announce,
            announce_to_author=author.shared_inbox or author.inbox,
            now=now,
            relay=category_relay(self.urls, author=author.id, published=now, create=verbatim),
        )
        return _reply_outcome(result, target, slug)

    async def _parent_authors(
        self, parents: list[IncomingNote], author: RemoteActor
    ) -> list[RemoteActor]:
        """The authors of fetched parents, to store with them (the signer is cached
        already by key resolution)."""
        authors: list[RemoteActor] = []
        for parent in parents:
            if parent.attributed_to and parent.attributed_to != author.id:
                parent_author = await self.notes.try_actor(parent.attributed_to)
                if parent_author is not None:
                    authors.append(parent_author)
        return authors

    async def _route(
        self, note: IncomingNote, slug: str | None
    ) -> tuple[str | None, list[IncomingNote]]:
        """Which discussion (slug) is this reply for? Parents fetched on the way are
        returned (newest first) so the thread is complete. A reply to one of our own
        notes costs no database read here: the store checks the discussion when it
        writes."""

        # 1. it replies to a note we hold (ours or a reply we accepted)
        async def held(parent_id: str) -> str | None:
            local = self._local_slug(parent_id)
            if local is not None:
                return local
            located = await self.store.note_location(parent_id)
            return located[0] if located else None

        found, parents = await self.notes.parent_chain(note, held, MAX_PARENT_DEPTH)
        if found is not None:
            return found, parents
        # 2. it is addressed to one of our discussions (to/cc/audience/Mention/context)
        for address in (*note.addresses, *([note.context] if note.context else [])):
            d = await self._discussion(self._local_slug(address))
            if d is not None:
                return d.slug, []  # parents outside our discussions are not pulled in
        # Nothing else: a note that never addressed a discussion does not enter it, not
        # even when posted to that discussion's inbox (someone pointing at it).
        if slug is not None and await self._discussion(slug) is None:
            raise NotFound(f"no discussion {slug!r}")
        return None, []

    # -- Update / Delete ----------------------------------------------------------------------

    async def _on_update(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        doc = activity.object_doc
        if doc is None:
            return Outcome("ignored: Update without an embedded object")
        types = parse.types_of(doc)
        if types & parse.ACTOR_TYPES:
            updated = parse.parse_actor(doc, utcnow())
            if updated.actor.id != actor.id:
                raise ActorMismatch("actors update only themselves")
            # Signed with the key we know, so a new key inside is trusted (docs/rules.md §16).
            await self.store.refresh_actor(updated.actor)
            self.keys.forget(actor.id)
            return Outcome("accepted")
        if not types & parse.NOTE_TYPES:
            return Outcome(f"ignored: Update {activity.object_type}")
        note = parse.parse_note(doc, activity)
        if parse.host_of(note.id) != parse.host_of(actor.id) or note.attributed_to != actor.id:
            raise ActorMismatch("only the author can edit a note")
        if note.visibility == "private":
            # Edited to a smaller audience (followers-only, direct): it leaves public view
            # at once, and those who got the group's boost get it taken back.
            result = await self.store.delete_note(
                activity_id=activity.id,
                ap_id=note.id,
                author_id=actor.id,
                now=utcnow(),
                follow_up=group_removal(self.urls, "withdrawn"),
            )
            return Outcome(f"accepted: withdrawn ({result})")
        if note.updated is None:
            return Outcome("ignored: edit without 'updated'")
        fresh = new_note(note, utcnow(), activity_id=activity.id, raw=doc)
        changed = await self.store.update_note(
            activity_id=activity.id,
            ap_id=note.id,
            author_id=actor.id,
            content=fresh.content,
            summary=fresh.summary,
            sensitive=fresh.sensitive,
            updated=note.updated,
            raw=fresh.raw or "",
            now=utcnow(),
            follow_up=self._forward(activity, "update"),
        )
        return Outcome("accepted" if changed else "ignored: unknown, not newer, or duplicate")

    async def _on_delete(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        object_id = activity.object_id
        if object_id is None:
            raise InvalidActivity("Delete without an object")
        if parse.strip_fragment(object_id) == actor.id:
            await self.store.delete_actor(activity_id=activity.id, actor_id=actor.id, now=utcnow())
            self.keys.forget(actor.id)
            return Outcome("accepted: actor deleted")
        if parse.host_of(object_id) != parse.host_of(actor.id):
            raise ActorMismatch("objects are deleted only from their own host")
        result = await self.store.delete_note(
            activity_id=activity.id,
            ap_id=object_id,
            author_id=actor.id,
            now=utcnow(),
            follow_up=self._forward(activity, "delete"),
        )
        if result is DeleteResult.NOT_AUTHOR:
            raise ActorMismatch("only the author can delete a note")
        return Outcome(f"accepted: {result}")

    def _forward(self, activity: Activity, kind: str) -> FollowUpBuilder:
        """What the followers of a discussion get when a reply it shared is edited or
        deleted by its author (``passed_on``; never back to the author's server)."""
        return passed_on(self.urls, activity.raw, kind, skip_host=parse.host_of(activity.actor))

    # -- reactions and reports --------------------------------------------------------------

    async def _on_announce(
        self, activity: Activity, actor: RemoteActor, slug: str | None
    ) -> Outcome:
        """From a group we follow: its discussion's content. From anyone else: a boost."""
        if actor.type == "Group":
            group = await self.store.remote_group(actor.id)
            if group is not None and group.state in (
                RemoteGroupState.ACCEPTED,
                RemoteGroupState.PENDING,
            ):
                return Outcome(await self.remote.on_announce(group, activity, actor), group.handle)
        return await self._on_reaction(activity, actor, slug)

    async def _on_answer(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        """A group's Accept/Reject of a Follow our instance sent."""
        result = await self.remote.on_answer(activity, actor, activity.type == "Accept")
        return Outcome(result)

    async def _on_reaction(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        target = activity.object_id
        if target is None:
            return Outcome("ignored: no object")
        emoji = activity.raw.get("content") if activity.type == "EmojiReact" else None
        added = await self.store.add_reaction(
            activity_id=activity.id,
            note_ap_id=target,
            actor_id=actor.id,
            kind=activity.type,
            content=emoji[:64] if isinstance(emoji, str) else None,
            now=utcnow(),
        )
        return Outcome("accepted" if added else "ignored: not our note, or duplicate")

    async def _on_flag(self, activity: Activity, actor: RemoteActor, _: str | None) -> Outcome:
        """Mastodon sends reports from its instance actor, object = [account, statuses…]."""
        objects = activity.object if isinstance(activity.object, list) else [activity.object]
        ids = [i for i in (parse.id_of(o) for o in objects[:100]) if i]
        discussion_id = None
        ours: list[str] = []
        for object_id in ids:
            local = self._local_slug(object_id)
            located = await self.store.note_location(object_id)
            slug = located[0] if located else local
            if slug is not None:
                ours.append(object_id)
                d = await self._discussion(slug)
                if d is not None and discussion_id is None:
                    discussion_id = d.id
        if not ours:
            return Outcome("ignored: reports nothing of ours")
        comment = activity.raw.get("content")
        await self.store.add_report(
            activity_id=activity.id,
            reporter=actor.id,
            discussion_id=discussion_id,
            note_ids=orjson.dumps(ours).decode(),
            comment=comment[:2000] if isinstance(comment, str) else "",
            now=utcnow(),
        )
        return Outcome("accepted")


def _reply_outcome(result: ReplyResult, target: str, slug: str | None) -> Outcome:
    """What the store's answer to a reply means for the sender."""
    if result.status is ReplyStatus.CLOSED:
        raise Forbidden(
            f"{target} does not accept replies",
            public_message="this discussion does not accept replies",
        )
    if result.status is ReplyStatus.UNKNOWN:
        if slug is not None:
            raise NotFound(f"no discussion {slug!r}")
        return Outcome("ignored: not for any of our discussions")
    if not result.seqs:
        return Outcome("duplicate", target)
    if result.status is ReplyStatus.HELD:
        return Outcome("held for moderation", target, result.seqs[-1])
    return Outcome("accepted", target, result.seqs[-1])
