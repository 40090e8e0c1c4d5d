"""Domain values shared by every layer: frozen, typed, no behaviour beyond small helpers.

Timestamps are ISO 8601 UTC strings (``2026-11-28T07:47:41Z``): sortable as text,
portable across SQLite and PostgreSQL, and exactly what ActivityPub wants on the wire.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from datetime import UTC, datetime

SLUG_RE = re.compile(r"[a-z0-9_]{1,30}")

# Names that would collide with our own URL space or with well-known actor names.
RESERVED_SLUGS = frozenset(
    {
        "about",
        "actor",
        "admin",
        "api",
        "d",
        "feed",
        "feeds",
        "inbox",
        "instance",
        "login",
        "logout",
        "m",
        "modlog",
        "nodeinfo",
        "outbox",
        "root",
        "static",
        "system",
        "terms",
        "well_known",
        "www",
    }
)


class DiscussionState(enum.StrEnum):
    OPEN = "open"  # anyone may reply
    LOCKED = "locked"  # readable; new replies refused (temporarily)
    CLOSED = "closed"  # readable; new replies and new follows refused
    DELETED = "deleted"  # gone: WebFinger and the actor answer 410


class NoteState(enum.StrEnum):
    VISIBLE = "visible"
    HIDDEN = "hidden"  # hidden by a moderator; keeps its place
    HELD = "held"  # waiting for pre-moderation; not shown or listed
    DELETED = "deleted"  # tombstone; keeps its place in the order


def utcnow() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Discussion:
    id: int
    slug: str
    title: str
    summary: str
    lang: str
    state: DiscussionState
    announce_replies: bool
    public_key_pem: str
    views: int
    last_seq: int  # seq of the newest note; the opening post is seq 0
    reply_count: int  # visible replies (excludes the opening post)
    created_at: str
    updated_at: str
    last_activity_at: str
    revision: int  # bumped on every change to the discussion's notes (ETags)
    premoderate: bool = False  # replies wait for a moderator's approval

    @property
    def is_deleted(self) -> bool:
        return self.state is DiscussionState.DELETED

    @property
    def accepts_replies(self) -> bool:
        return self.state is DiscussionState.OPEN


@dataclasses.dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a note, as far as we know them (remote actor cache or the group itself)."""

    actor_id: str
    name: str
    handle: str  # "@user@host"; empty when unknown
    profile_url: str
    avatar_url: str


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    id: int
    discussion_id: int
    seq: int
    ap_id: str
    author: Author
    in_reply_to: str | None
    in_reply_to_seq: int | None
    content: str  # sanitized HTML (local notes are built by us, remote ones nh3-cleaned)
    summary: str | None
    sensitive: bool
    lang: str | None
    url: str | None
    state: NoteState
    published: str
    updated: str | None
    is_local: bool
    official: bool = False  # a staff reply marked as the official answer

    @property
    def is_visible(self) -> bool:
        return self.state is NoteState.VISIBLE


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionItem:
    """One row of a keyset-paged collection: its cursor and its JSON (already serialised)."""

    cursor: int
    json: bytes


class RemoteGroupState(enum.StrEnum):
    PENDING = "pending"  # our Follow is on its way
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ENDED = "ended"  # we unfollowed, or the group was deleted


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteGroup:
    """A discussion on another server that we follow (a fedi-forum group, a Lemmy
    community, …). Name, summary and URL come from its actor document: untrusted text."""

    id: int
    actor_id: str
    handle: str  # "slug@host"
    state: RemoteGroupState
    follow_activity_id: str
    note_count: int
    name: str
    summary: str
    url: str
    inbox: str | None
    created_at: str
    updated_at: str
    backfilled_at: str | None

    @property
    def host(self) -> str:
        return self.handle.rpartition("@")[2]


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceStats:
    discussions: int
    local_posts: int
    replies: int
    followers: int


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteActor:
    """A remote actor as we cache it. Every field came from the network: untrusted text."""

    id: str
    host: str
    type: str
    preferred_username: str | None
    name: str | None
    url: str | None
    icon_url: str | None
    inbox: str | None
    shared_inbox: str | None
    key_id: str | None
    public_key_pem: str | None
    fetched_at: str
    raw: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewNote:
    """A reply accepted into a discussion (already checked and sanitized by the caller)."""

    ap_id: str
    activity_id: str | None
    author_id: str
    in_reply_to: str | None
    content: str
    summary: str | None
    sensitive: bool
    lang: str | None
    url: str | None
    visibility: str  # "public" | "unlisted"
    published: str
    updated: str | None
    raw: str | None
    accepted_at: str
    is_local: bool = False
    official: bool = False
