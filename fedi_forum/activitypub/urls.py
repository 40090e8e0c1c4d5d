"""Every URL we publish, built from the base URL in one place (docs/architecture.md,
"Actors and URLs"), the ids of the activities we send, and the inverse: which local
thing a URL names (``parse``).

Ids are stable forever once published: remote servers store them. Change nothing here
without a redirect plan.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re

_SEGMENT = re.compile(r"[^/?#]+")


class LocalKind(enum.StrEnum):
    INSTANCE = "instance"  # B/actor
    GROUP = "group"  # B/d/{slug} and its collections
    NOTE = "note"  # B/d/{slug}/m/{seq} (and ids minted below it)
    STAFF = "staff"  # B/staff/{name} (and their notes)
    MEMBER = "member"  # B/members/{handle}: an author an archive import brought in
    CATEGORY = "category"  # B/c/{slug} and its collections (docs/categories.md)


@dataclasses.dataclass(frozen=True, slots=True)
class LocalRef:
    """What one of our URLs names. ``slug`` is lower-cased; ``seq`` is set for notes."""

    kind: LocalKind
    slug: str = ""
    seq: int | None = None
    username: str = ""


def digest(value: str) -> str:
    """A short stable token of someone else's activity id, for ids we mint in answer
    (the same remote activity always gives the same id: a retry dedupes)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, slots=True)
class Urls:
    base: str  # scheme://host[:port], no trailing slash

    # instance
    @property
    def instance_actor(self) -> str:
        return f"{self.base}/actor"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    @property
    def about(self) -> str:
        """The instance's about page: the profile page of staff actors."""
        return f"{self.base}/about"

    @property
    def instance_feed_rss(self) -> str:
        return f"{self.base}/feed.rss"

    @property
    def instance_feed_atom(self) -> str:
        return f"{self.base}/feed.atom"

    def static(self, name: str) -> str:
        return f"{self.base}/static/{name}"

    def remote(self, handle: str) -> str:
        """Our page showing a discussion we follow on another server (``slug@host``)."""
        return f"{self.base}/r/{handle}"

    # staff (Person actors of the facilitators)
    def staff(self, username: str) -> str:
        return f"{self.base}/staff/{username}"

    def staff_note(self, username: str, note_id: str) -> str:
        return f"{self.base}/staff/{username}/notes/{note_id}"

    def group_image(self, slug: str, kind: str, version: str) -> str:
        """A discussion's own avatar (``icon``) or header; ``version`` (when it was set)
        makes a new image a new URL, so it can be cached for good."""
        return f"{self.base}/d/{slug}/{kind}?v={digest(version)}"

    # authors an import brought in (read-only Person actors), and the archive's files
    def member(self, handle: str) -> str:
        return f"{self.base}/members/{handle}"

    def archive_file(self, path: str) -> str:
        return f"{self.base}/files/{path}"

    # a discussion (Group actor)
    def group(self, slug: str) -> str:
        return f"{self.base}/d/{slug}"

    def key_id(self, actor_id: str) -> str:
        return f"{actor_id}#main-key"

    def inbox(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/inbox"

    def outbox(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/outbox"

    def followers(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/followers"

    def following(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/following"

    def featured(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/featured"

    def context(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/context"

    def feed_rss(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/feed.rss"

    def feed_atom(self, slug: str) -> str:
        return f"{self.base}/d/{slug}/feed.atom"

    # a category (Group actor of a topic area, or the forum-wide one)
    def category(self, slug: str) -> str:
        return f"{self.base}/c/{slug}"

    def category_inbox(self, slug: str) -> str:
        return f"{self.base}/c/{slug}/inbox"

    def category_outbox(self, slug: str) -> str:
        return f"{self.base}/c/{slug}/outbox"

    def category_followers(self, slug: str) -> str:
        return f"{self.base}/c/{slug}/followers"

    def category_featured(self, slug: str) -> str:
        """Its pinned discussions' opening posts."""
        return f"{self.base}/c/{slug}/featured"

    def category_feed(self, slug: str, kind: str) -> str:
        return f"{self.base}/c/{slug}/feed.{kind}"

    def category_announce(self, slug: str, object_id: str) -> str:
        """The category's Announce of a discussion's opening post or of a reply."""
        return f"{self.category(slug)}/announce/{digest(object_id)}"

    def category_note(self, slug: str, proposal_id: int) -> str:
        """The category's answer to the author of proposal ``proposal_id``."""
        return f"{self.category(slug)}/answers/{proposal_id}"

    def category_answer(self, slug: str, follow_id: str) -> str:
        """The category's Accept of a Follow."""
        return f"{self.category(slug)}#accepts/{digest(follow_id)}"

    # a message
    def note(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}"

    def note_activity(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}/activity"

    def replies(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}/replies"

    # ids of the activities we send (one place, so their shapes never drift)
    def announce(self, slug: str, seq: int) -> str:
        """The group's Announce of its message ``seq``."""
        return f"{self.note(slug, seq)}/announce"

    @staticmethod
    def follow_up(base: str, kind: str, activity_id: str) -> str:
        """What a sharer relays when an author edits or deletes a message it shared
        (``kind`` "update" | "delete"), keyed by the author's activity. ``base``: the
        message's URL for its group, a category's Announce of it for the category."""
        return f"{base}/{kind}/{digest(activity_id)}"

    @staticmethod
    def withdrawal(base: str, label: str) -> str:
        """A sharer's Delete of a message when it leaves public view without its
        author's Delete (``label`` "removed" | "withdrawn"); ``base`` as above."""
        return f"{base}/{label}"

    def answer(self, slug: str, follow_id: str, accepted: bool) -> str:
        """The group's Accept or Reject of a Follow."""
        kind = "accepts" if accepted else "rejects"
        return f"{self.group(slug)}#{kind}/{digest(follow_id)}"

    def group_delete(self, slug: str, stamp: str) -> str:
        return f"{self.group(slug)}#delete/{stamp}"

    def update(self, object_id: str, stamp: str) -> str:
        """An Update of one of our objects (a group, its opening post)."""
        return f"{object_id}#updates/{stamp}"

    def instance_follow(self, token: str) -> str:
        """The instance actor's Follow of a group elsewhere."""
        return f"{self.instance_actor}#follows/{token}"

    def report(self, report_id: int, n: int) -> str:
        """The ``n``-th Flag forwarding report ``report_id`` (one per author's server)."""
        return f"{self.instance_actor}#reports/{report_id}/{n}"

    @staticmethod
    def undo(activity_id: str) -> str:
        """Our Undo of one of our own activities."""
        return f"{activity_id}/undo"

    # the inverse
    def parse(self, url: str) -> LocalRef | None:
        """Which local thing ``url`` names, or None when it is not ours. Anything below
        a group, note, staff or member URL (collections, minted ids, a fragment, a
        query) names that group, note, staff member or member. Attacker-controlled
        input: only the shapes above are recognised, and a slug is only a segment (no
        check that it exists)."""
        if not url.startswith(f"{self.base}/"):
            return None
        path = url[len(self.base) :].split("#", 1)[0].split("?", 1)[0]
        parts = path.split("/")  # "", kind, …
        if path == "/actor":
            return LocalRef(LocalKind.INSTANCE)
        if len(parts) >= 3 and _SEGMENT.fullmatch(parts[2]):
            if parts[1] == "d":
                slug = parts[2].lower()
                seq = parts[4] if len(parts) >= 5 and parts[3] == "m" else ""
                if seq.isdigit() and len(seq) < 19:  # bounded: int() of a huge string raises
                    return LocalRef(LocalKind.NOTE, slug, int(seq))
                return LocalRef(LocalKind.GROUP, slug)
            if parts[1] == "staff":
                return LocalRef(LocalKind.STAFF, username=parts[2].lower())
            if parts[1] == "members":
                return LocalRef(LocalKind.MEMBER, username=parts[2].lower())
            if parts[1] == "c":
                return LocalRef(LocalKind.CATEGORY, parts[2].lower())
        return None
