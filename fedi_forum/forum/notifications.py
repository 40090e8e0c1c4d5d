"""Mail to the moderators when something waits for them: new reports, replies held
for approval and proposed discussions (docs/categories.md), batched — one mail per
interval (``FEDI_FORUM_NOTIFY_SECONDS``) with everything new, each item with its link.
What a mail says is chosen for who might read a forwarded mail: the discussion, the
message number, the reason, a proposal's title; never the reporter's contact or
comment, and never the message text (both are at the link, behind the login)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from fedi_forum.activitypub.urls import Urls
from fedi_forum.config import Settings
from fedi_forum.store.notifications import NotificationStore, Pending
from fedi_forum.tasks import cancelled

log = logging.getLogger(__name__)

REASONS = {
    "nl": {
        "respect": "niet respectvol",
        "spam": "niet over het onderwerp, reclame of spam",
        "privacy": "deelt persoonsgegevens van anderen",
        "illegal": "illegale inhoud",
        "other": "iets anders",
    },
    "en": {
        "respect": "not respectful",
        "spam": "off topic, advertising or spam",
        "privacy": "shares personal data of others",
        "illegal": "illegal content",
        "other": "something else",
    },
}


class Mailer(Protocol):
    async def send(self, to: list[str], subject: str, body: str) -> None: ...


class Notifier:
    def __init__(self, settings: Settings, store: NotificationStore, mailer: Mailer) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.urls = Urls(settings.base_url)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # observable for tests

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifier")

    async def stop(self) -> None:
        await cancelled(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.notify_seconds)
            try:
                await self.run_once()
            except Exception:  # a mail server down: the next round tries again
                log.exception("notifying the moderators failed")

    async def run_once(self) -> bool:
        """Send what is new since the last mail (True), if anything is and no other
        process sends it first."""
        to = self.settings.moderator_addresses
        pending = await self.store.pending_notifications()
        if not to or not (pending.reports or pending.held or pending.proposals):
            return False
        if not await self.store.move_notification_markers(pending.markers, pending.next_markers):
            return False  # another process took this batch
        subject, body = self.message(pending)
        try:
            await self.mailer.send(to, subject, body)
        except Exception:
            # put the markers back, so the next round sends these items again
            await self.store.move_notification_markers(pending.next_markers, pending.markers)
            raise
        self.sent += 1
        return True

    def message(self, pending: Pending) -> tuple[str, str]:
        nl = self.settings.default_lang == "nl"
        name = self.settings.instance_name
        reports, held, proposed = len(pending.reports), len(pending.held), len(pending.proposals)
        if nl:
            parts = (
                [f"{reports} nieuwe melding" + ("en" if reports != 1 else "")] if reports else []
            )
            waits = "reacties wachten" if held != 1 else "reactie wacht"
            parts += [f"{held} {waits} op goedkeuring"] if held else []
            these = "voorgestelde discussies" if proposed != 1 else "voorgestelde discussie"
            parts += [f"{proposed} {these}"] if proposed else []
        else:
            parts = [f"{reports} new report" + ("s" if reports != 1 else "")] if reports else []
            replies = "replies" if held != 1 else "reply"
            parts += [f"{held} {replies} waiting for approval"] if held else []
            parts += (
                [f"{proposed} proposed discussion" + ("s" if proposed != 1 else "")]
                if proposed
                else []
            )
        joiner = ", " if len(parts) > 2 else (" en " if nl else " and ")
        subject = f"[{name}] " + joiner.join(parts)
        reasons = REASONS["nl" if nl else "en"]
        lines = []
        if pending.reports:
            lines.append("Meldingen:" if nl else "Reports:")
            for r in pending.reports:
                where = r.title or ("een verwijderde discussie" if nl else "a deleted discussion")
                why = reasons.get(r.reason, "")
                lines.append(f"- {where}" + (f" ({why})" if why else ""))
            lines.append(f"  {self.urls.base}/admin/reports")
            lines.append("")
        if pending.held:
            lines.append("Wachten op goedkeuring:" if nl else "Waiting for approval:")
            for h in pending.held:
                lines.append(f"- {h.title} #{h.seq}")
            lines.append(f"  {self.urls.base}/admin/replies?state=held")
            lines.append("")
        if pending.proposals:
            lines.append("Voorgestelde discussies:" if nl else "Proposed discussions:")
            for p in pending.proposals:  # the title the author chose, not their text
                lines.append(f"- {p.title} (@{p.slug})")
            lines.append(f"  {self.urls.base}/admin/proposals")
            lines.append("")
        lines.append(
            "Je krijgt deze mail als moderator van dit forum (FEDI_FORUM_MODERATION_EMAIL)."
            if nl
            else "You get this mail as a moderator of this forum (FEDI_FORUM_MODERATION_EMAIL)."
        )
        return subject, "\n".join(lines)
