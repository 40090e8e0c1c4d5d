"""Moderation use cases: hide, restore and delete replies, block domains and actors,
the public log, and reports from the web form.

Every action names a reason code tied to the terms of use; the public moderation log
shows what was done and why, never who reported it or who decided.

* hide: the reply disappears from this site (pages, feeds, context) but keeps its
  place; nothing is federated, so it can be restored.
* delete: a tombstone, and the followers are told: group servers get the group's
  ``Delete`` inside an ``Announce`` (FEP-1b12), microblog servers an ``Undo`` of the
  group's boost.
* block: the domain (with its subdomains) or actor is refused at every entry point,
  its follows end, its replies are hidden and nothing more is sent to it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable

import orjson

from fedi_forum.activitypub import vocab
from fedi_forum.activitypub.parse import is_http_url
from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.errors import InvalidInput, NotFound
from fedi_forum.federation.blocklist import normalise_domain
from fedi_forum.forum.discussions import normalise_slug
from fedi_forum.forum.notes import category_relay, group_announce, group_removal
from fedi_forum.models import NoteAction, utcnow
from fedi_forum.store import Outgoing, Store
from fedi_forum.store.moderation import Moderated

# Reason codes, numbered like the terms of use.
REASONS = ("respect", "spam", "privacy", "illegal", "other")


@dataclasses.dataclass(frozen=True, slots=True)
class ImportPreview:
    new: list[str]
    already: list[str]
    invalid: list[str]


class Moderation:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.urls = Urls(settings.base_url)

    def _reason(self, reason: str) -> str:
        if reason not in REASONS:
            raise InvalidInput(f"reason {reason!r}", public_message=f"reason: one of {REASONS}")
        return reason

    async def moderate(self, slug: str, seq: int, action: str, reason: str) -> Moderated:
        try:
            act = NoteAction(action)  # a closed set: anything else is refused
        except ValueError:
            raise InvalidInput(f"action {action!r}") from None
        result = await self.store.moderate_note(
            slug=normalise_slug(slug),
            seq=seq,
            action=act,
            reason="" if act in (NoteAction.RESTORE, NoteAction.APPROVE) else self._reason(reason),
            now=utcnow(),
            follow_up=group_removal(self.urls, "removed") if act is NoteAction.DELETE else None,
            announce=self._announce(normalise_slug(slug)) if act is NoteAction.APPROVE else None,
            relay=category_relay(self.urls, author=None, published=utcnow(), create=None)
            if act is NoteAction.APPROVE
            else None,
        )
        if result is Moderated.UNKNOWN:
            raise NotFound(f"no reply {seq} in {slug!r}")
        return result

    def _announce(self, slug: str) -> Callable[[int, str, str | None], Outgoing]:
        """The group's boost of an approved reply (the microblog form: the author's
        Create was not kept verbatim while the reply waited)."""

        def build(seq: int, note_id: str, _author_inbox: str | None) -> Outgoing:
            return group_announce(
                self.urls,
                slug,
                seq,
                note_id=note_id,
                author=None,
                published=utcnow(),
                create=None,
            )

        return build

    async def forward_report(self, report_id: int, *, include_comment: bool = False) -> int:
        """Send a report to the servers of the reported authors, as Mastodon does: a
        ``Flag`` from our instance actor (so the reporter stays anonymous), naming the
        author and their notes; the comment only when the moderator chooses to.
        Returns how many servers it went to."""
        found = await self.store.report_authors(report_id)
        if found is None:
            raise NotFound(f"no report {report_id}")
        comment, authors = found
        inboxes = await self.store.actor_inboxes(list(authors))
        by_inbox: dict[str, list[str]] = {}
        for author, notes in authors.items():
            if author in inboxes:
                by_inbox.setdefault(inboxes[author], []).extend([author, *notes])
        now = utcnow()
        for n, (inbox, objects) in enumerate(sorted(by_inbox.items())):
            flag_id = self.urls.report(report_id, n)
            flag = vocab.flag(
                flag_id, self.urls.instance_actor, objects, comment if include_comment else None
            )
            await self.store.queue(
                Outgoing(flag_id, orjson.dumps(flag).decode(), self.urls.instance_actor),
                [inbox],
                now,
            )
        return len(by_inbox)

    def _block_target(self, kind: str, value: str) -> str:
        if kind == "domain":
            domain = normalise_domain(value)
            if not domain or "." not in domain or "/" in domain:
                raise InvalidInput(f"bad domain {value!r}", public_message="not a domain name")
            return domain
        if kind == "actor" and is_http_url(value):
            return value.split("#", 1)[0]
        raise InvalidInput(f"bad block {kind} {value!r}", public_message="domain or actor URL")

    async def block(self, kind: str, value: str, reason: str) -> tuple[str, int, int]:
        target = self._block_target(kind, value)
        follows, hidden = await self.store.block(
            kind=kind, value=target, reason=self._reason(reason), now=utcnow()
        )
        return target, follows, hidden

    async def unblock(self, kind: str, value: str) -> bool:
        return await self.store.unblock(
            kind=kind, value=self._block_target(kind, value), now=utcnow()
        )

    async def preview_import(self, text: str) -> ImportPreview:
        """A Mastodon domain-block CSV (``#domain,#severity,…`` or plain ``domain,…``):
        what importing would change. ``silence`` and ``noop`` rows are not blocks."""
        existing = {b["value"] for b in await self.store.block_list() if b["kind"] == "domain"}
        new: list[str] = []
        already: list[str] = []
        invalid: list[str] = []
        for row in csv.DictReader(io.StringIO(text)):
            cells = {k.lstrip("#").strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if cells.get("severity", "suspend") not in ("suspend", ""):
                continue
            try:
                domain = self._block_target("domain", cells.get("domain", ""))
            except InvalidInput:
                invalid.append(cells.get("domain", ""))
                continue
            (already if domain in existing else new).append(domain)
        return ImportPreview(sorted(set(new)), sorted(set(already)), invalid)

    async def import_blocks(self, text: str, reason: str) -> ImportPreview:
        preview = await self.preview_import(text)
        for domain in preview.new:
            await self.store.block(
                kind="domain", value=domain, reason=self._reason(reason), now=utcnow()
            )
        return preview
