"""Every URL we publish, built from the base URL in one place (docs/architecture.md,
"Actors and URLs").

Ids are stable forever once published: remote servers store them. Change nothing here
without a redirect plan.
"""

from __future__ import annotations

import dataclasses


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

    # a message
    def note(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}"

    def note_activity(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}/activity"

    def replies(self, slug: str, seq: int) -> str:
        return f"{self.base}/d/{slug}/m/{seq}/replies"
