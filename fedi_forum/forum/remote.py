"""Discussions on other servers that this instance follows.

A municipality follows another one's discussion (or a Lemmy/PieFed community) by
handle: our instance actor sends ``Follow``; the group answers ``Accept``; from then on
it shares every reply as FEP-1b12 ``Announce{Create}`` (or, microblog style, as an
``Announce`` of the note's id). We store those notes in the group's order and show them
on our own pages, marked as coming from the other server and linking to the original.

Trust: the group signed the Announce, but an announced note written on another server
is fetched from that server (its origin); only the group's own host vouches for notes
it hosts. The group's moderators decide what is in their discussion: a ``Delete`` it
relays removes the note from our copy of that discussion, nowhere else.

Backfill (FEP-f228): once the follow is accepted, the group's context collection
(found on its featured opening post, or failing that its outbox) is read so the history
is complete; a reply whose parent we lack fetches the parent chain (bounded). Reading
the history is a queued job (``backfills``, queued in the transaction that stores the
Accept), run by every ``serve`` process under a lease, retried with backoff and resumed
after a restart; ``fedi-forum following`` and /admin/federation show its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from fedi_forum.activitypub import parse, vocab
from fedi_forum.activitypub.parse import Activity, IncomingNote
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.errors import FediForumError, InvalidInput, KeyFetchFailed, NotFound
from fedi_forum.federation import dereference, liveness, retry
from fedi_forum.federation.client import FederationClient
from fedi_forum.federation.dereference import Trust
from fedi_forum.federation.keys import KeyResolver
from fedi_forum.forum.interaction import parse_handle
from fedi_forum.forum.notes import NoteFetcher, new_note
from fedi_forum.models import (
    NewNote,
    RemoteActor,
    RemoteGroup,
    RemoteGroupState,
    format_time,
    utcnow,
)
from fedi_forum.store import Outgoing, Store

log = logging.getLogger(__name__)

MAX_BACKFILL = 1_000  # notes read from one context collection
MAX_PAGES = 50  # collection pages followed
BACKFILL_CONCURRENCY = 4  # notes fetched at once from other servers
MAX_PARENT_DEPTH = 5  # missing parents fetched for one arriving reply
BACKFILL_LEASE = timedelta(minutes=10)  # one run; the heartbeat frees it sooner
BACKFILL_ATTEMPTS = 6  # runs before a job is marked failed (backoff 15 s … 4 min)
BACKFILL_POLL_SECONDS = 5.0


class RemoteDiscussions:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keys: KeyResolver,
        client: FederationClient,
        notes: NoteFetcher,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.client = client
        self.notes = notes
        self.urls = Urls(settings.base_url)
        self.identity = liveness.this_worker(utcnow())
        self.rng = random.Random()  # noqa: S311 - retry jitter
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- the backfill runner ----------------------------------------------------------------

    async def start(self) -> None:
        """Run queued backfill jobs in this process. Every ``serve`` process does; a job
        is leased (owner: this process), so one group's history is read by one process
        at a time, and a job cut off by a crash is resumed (docs/delivery.md)."""
        self._tasks = [
            asyncio.create_task(self._run_jobs(), name="backfill-runner"),
            asyncio.create_task(self._heartbeat(), name="backfill-heartbeat"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tasks:
            self._tasks = []
            await self.store.release_backfills(self.identity.id)

    def wake(self) -> None:
        self._wake.set()

    async def _heartbeat(self) -> None:
        while True:
            try:
                if await liveness.beat(self.store, self.identity):
                    self._wake.set()  # a dead process's job is free again
            except Exception:
                log.exception("backfill heartbeat failed")
            await asyncio.sleep(liveness.HEARTBEAT_SECONDS)

    async def _run_jobs(self) -> None:
        while True:
            self._wake.clear()
            try:
                now = datetime.now(UTC)
                group_id = await self.store.claim_backfill(
                    now=format_time(now),
                    lease_until=format_time(now + BACKFILL_LEASE),
                    owner=self.identity.id,
                )
                if group_id is not None:
                    await self._run_job(group_id)
                    continue
            except Exception:
                log.exception("backfill runner failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), BACKFILL_POLL_SECONDS)

    async def _run_job(self, group_id: int) -> None:
        group = await self.store.remote_group_by_id(group_id)
        if group is None:
            return
        try:
            added = await self.backfill(group)
        except FediForumError as exc:
            attempts = group.backfill_attempts + 1
            later = None
            if attempts < BACKFILL_ATTEMPTS:
                later = format_time(datetime.now(UTC) + retry.backoff(attempts, self.rng))
            log.warning("backfill of %s failed (attempt %d): %s", group.handle, attempts, exc)
            await self.store.record_backfill(
                group_id, added=0, error=str(exc), next_attempt_at=later, now=utcnow()
            )
            return
        log.info("backfill of %s: %d notes added", group.handle, added)
        await self.store.record_backfill(
            group_id, added=added, error=None, next_attempt_at=None, now=utcnow()
        )

    # -- following ------------------------------------------------------------------------

    async def follow(self, handle: str) -> RemoteGroup:
        """Follow ``@slug@host`` (attacker-influenced: whatever the server answers)."""
        user, host = parse_handle(handle)
        if host == self.settings.domain:  # our own discussions need no following
            raise InvalidInput(
                f"{handle} is here", public_message="that discussion is on this server"
            )
        try:
            group = (await self.keys.actor_by_handle(user, host)).actor
        except KeyFetchFailed as exc:
            raise InvalidInput(str(exc), public_message="nothing found at that address") from exc
        if group.type != "Group":
            raise InvalidInput(
                f"{handle} is a {group.type}", public_message="that is not a discussion or group"
            )
        if group.inbox is None:
            raise InvalidInput(f"{handle} has no inbox", public_message="that group has no inbox")
        if group.id.startswith(f"{self.settings.base_url}/"):  # a WebFinger pointing back here
            raise InvalidInput(
                f"{handle} is here", public_message="that discussion is on this server"
            )
        me = self.urls.instance_actor
        follow_id = self.urls.instance_follow(uuid.uuid4().hex)
        follow = vocab.follow(follow_id, me, group.id)
        return await self.store.start_remote_follow(
            group=group,
            handle=f"{user.lower()}@{host}",
            inbox=group.inbox,
            now=utcnow(),
            follow=Outgoing(follow_id, orjson.dumps(follow).decode(), me),
        )

    async def unfollow(self, handle: str) -> RemoteGroup:
        user, host = parse_handle(handle)
        group = await self.store.remote_group_by_handle(f"{user}@{host}")
        if group is None or group.state is RemoteGroupState.ENDED:
            raise NotFound(f"not following {handle}", public_message=f"not following {handle}")
        me = self.urls.instance_actor
        undo_id = self.urls.undo(group.follow_activity_id)
        undo = vocab.undo_follow(undo_id, me, group.follow_activity_id, group.actor_id)
        await self.store.end_remote_follow(
            group_id=group.id,
            inbox=group.inbox,
            now=utcnow(),
            undo=Outgoing(undo_id, orjson.dumps(undo).decode(), me),
        )
        return group

    async def on_answer(self, activity: Activity, group: RemoteActor, accepted: bool) -> str:
        """``Accept``/``Reject`` of our Follow, from the group itself."""
        inner = activity.object_doc
        if inner is not None and parse.id_of(inner.get("actor")) not in (
            None,
            self.urls.instance_actor,
        ):
            return "ignored: not an answer to our follow"
        answered = await self.store.answer_remote_follow(
            group_actor=group.id, follow_id=activity.object_id, accepted=accepted, now=utcnow()
        )
        if answered is None:
            return "ignored: no follow of ours waiting"
        if accepted:
            self._wake.set()  # its backfill job was queued with the answer
        return "accepted"

    # -- what the group shares ----------------------------------------------------------

    async def on_announce(self, group: RemoteGroup, activity: Activity, sender: RemoteActor) -> str:
        """An Announce from a group we follow (``sender`` signed it)."""
        inner = activity.object_doc
        inner_type = activity.object_type
        if inner is None or inner_type in parse.NOTE_TYPES:
            object_id = activity.object_id
            if object_id is None:
                return "ignored: nothing announced"
            return await self._add(group, sender, inner, object_id)
        inner_object = inner.get("object")
        object_id = parse.id_of(inner_object)
        if object_id is None:
            return f"ignored: {inner_type} without an object"
        embedded = inner_object if isinstance(inner_object, dict) else None
        if inner_type == "Create":
            return await self._add(group, sender, embedded, object_id)
        if inner_type == "Update":
            return await self._update(group, sender, embedded, object_id)
        if inner_type in ("Delete", "Remove"):
            removed = await self.store.remove_remote_note(group.id, object_id, utcnow())
            return "accepted: removed" if removed else "ignored: unknown note"
        return f"ignored: Announce{{{inner_type}}}"

    async def _add(
        self, group: RemoteGroup, sender: RemoteActor, doc: dict[str, Any] | None, object_id: str
    ) -> str:
        if await self.store.remote_note_ids(group.id, [object_id]):
            return "duplicate"
        note, raw, _author = await self.notes.trusted(
            doc, object_id, sender, trust=Trust.SIGNERS_SERVER
        )
        if note.visibility == "private":
            return "ignored: not public"
        now = utcnow()
        parents = await self._missing_parents(group, note)
        fresh = [new_note(p, now, activity_id=None) for p in reversed(parents)]
        fresh.append(new_note(note, now, activity_id=None, raw=raw))
        added = await self.store.add_remote_notes(group.id, fresh, [], now)
        return "accepted" if added else "duplicate"

    async def _update(
        self, group: RemoteGroup, sender: RemoteActor, doc: dict[str, Any] | None, object_id: str
    ) -> str:
        if not await self.store.remote_note_ids(group.id, [object_id]):
            return "ignored: unknown note"
        note, _, _ = await self.notes.trusted(doc, object_id, sender, trust=Trust.SIGNERS_SERVER)
        if note.visibility == "private":  # edited to a smaller audience: out of our copy
            await self.store.remove_remote_note(group.id, object_id, utcnow())
            return "accepted: no longer public"
        if note.updated is None:
            return "ignored: edit without 'updated'"
        fresh = new_note(note, utcnow(), activity_id=None)
        changed = await self.store.update_remote_note(group.id, fresh)
        return "accepted" if changed else "ignored: not newer"

    async def _missing_parents(self, group: RemoteGroup, note: IncomingNote) -> list[IncomingNote]:
        """Parents we lack (newest first), fetched from their origins, at most
        MAX_PARENT_DEPTH; the chain stops at one we hold or cannot get."""

        async def held(parent_id: str) -> bool | None:
            return True if await self.store.remote_note_ids(group.id, [parent_id]) else None

        return (await self.notes.parent_chain(note, held, MAX_PARENT_DEPTH))[1]

    # -- backfill (FEP-f228) --------------------------------------------------------------

    async def backfill(self, group: RemoteGroup) -> int:
        """Read the group's history; returns how many notes were new."""
        ids = await self._history(group)
        known = await self.store.remote_note_ids(group.id, ids)
        missing = [i for i in ids if i not in known]
        limit = asyncio.Semaphore(BACKFILL_CONCURRENCY)

        async def get(object_id: str) -> NewNote | None:
            async with limit:
                try:
                    doc, _ = await self.notes.fetch(object_id)
                    note = parse.parse_note(doc)
                except FediForumError as exc:
                    log.info("backfill: skipping %s: %s", object_id, exc)
                    return None
            if note.visibility == "private":
                return None
            return new_note(note, utcnow(), activity_id=None, raw=doc)

        fetched = await asyncio.gather(*(get(i) for i in missing))
        now = utcnow()
        added = await self.store.add_remote_notes(
            group.id, [n for n in fetched if n is not None], [], now
        )
        await self.store.order_remote_notes(group.id, ids, now)
        return added

    async def _history(self, group: RemoteGroup) -> list[str]:
        """Note ids of the discussion, oldest first: its FEP-f228 context collection,
        else the notes its outbox shares."""
        doc = await self._get(group.actor_id)
        context_url = await self._context_url(group, doc)
        if context_url is not None:
            return await self._collection_ids(context_url, group)
        outbox = parse.id_of(doc.get("outbox"))
        if outbox is None:
            return []
        ids = []
        for item in await self._collection_items(outbox, group):
            activity_object = item.get("object") if isinstance(item, dict) else None
            if isinstance(activity_object, dict) and "object" in activity_object:
                activity_object = activity_object["object"]  # Announce{Create{Note}}
            object_id = parse.id_of(activity_object)
            if object_id is not None:
                ids.append(object_id)
        return list(reversed(ids))  # outboxes list newest first

    async def _context_url(self, group: RemoteGroup, doc: dict[str, Any]) -> str | None:
        featured = parse.id_of(doc.get("featured"))
        if featured is None:
            return None
        for item in (await self._collection_items(featured, group))[:5]:
            note = item if isinstance(item, dict) else None
            if note is None and isinstance(item, str):
                note = await self._get(item)
            context = parse.id_of(note.get("context")) if note else None
            if context and parse.host_of(context) == parse.host_of(group.actor_id):
                return context
        return None

    async def _collection_ids(self, url: str, group: RemoteGroup) -> list[str]:
        ids: list[str] = []
        for item in await self._collection_items(url, group):
            object_id = parse.id_of(item)
            if object_id is not None and object_id not in ids:
                ids.append(object_id)
        return ids

    async def _collection_items(self, url: str, group: RemoteGroup) -> list[Any]:
        """Items of an (Ordered)Collection, following ``first``/``next`` pages on the
        group's host, bounded in pages and items."""
        host = parse.host_of(group.actor_id)
        items: list[Any] = []
        page: dict[str, Any] | None = await self._get(url)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if page is None:
                break
            found = page.get("orderedItems", page.get("items"))
            items.extend(found if isinstance(found, list) else [])
            if len(items) >= MAX_BACKFILL:
                return items[:MAX_BACKFILL]
            following = page.get("first") if "first" in page and not found else page.get("next")
            if isinstance(following, dict):  # an embedded first page
                page = following
                continue
            next_url = parse.id_of(following)
            if next_url is None or next_url in seen or parse.host_of(next_url) != host:
                break
            seen.add(next_url)
            page = await self._get(next_url)
        return items

    async def _get(self, url: str) -> dict[str, Any]:
        return (await dereference.document(self.client, self.notes.blocklist, url)).document
