"""Domain values shared by every layer: frozen, typed, no behaviour beyond small helpers.

Timestamps are ISO 8601 UTC strings (``2026-11-28T07:47:41Z``): sortable as text,
portable across SQLite and PostgreSQL, and exactly what ActivityPub wants on the wire.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

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


class NoteAction(enum.StrEnum):
    """What a moderator can do to a reply (each one move of ``NOTE_TRANSITIONS``)."""

    HIDE = "hide"  # this site only
    RESTORE = "restore"  # un-hide
    DELETE = "delete"  # tombstone; followers are told
    APPROVE = "approve"  # a held reply goes public


# Which state may follow which. Deleted is final for both: followers were told the
# discussion (or reply) is gone, so it never comes back; anything else is refused.
DISCUSSION_TRANSITIONS: dict[DiscussionState, frozenset[DiscussionState]] = {
    DiscussionState.OPEN: frozenset(
        {DiscussionState.LOCKED, DiscussionState.CLOSED, DiscussionState.DELETED}
    ),
    DiscussionState.LOCKED: frozenset(
        {DiscussionState.OPEN, DiscussionState.CLOSED, DiscussionState.DELETED}
    ),
    DiscussionState.CLOSED: frozenset(
        {DiscussionState.OPEN, DiscussionState.LOCKED, DiscussionState.DELETED}
    ),
    DiscussionState.DELETED: frozenset(),
}
NOTE_TRANSITIONS: dict[NoteState, frozenset[NoteState]] = {
    NoteState.VISIBLE: frozenset({NoteState.HIDDEN, NoteState.DELETED}),
    NoteState.HIDDEN: frozenset({NoteState.VISIBLE, NoteState.DELETED}),
    NoteState.HELD: frozenset({NoteState.VISIBLE, NoteState.DELETED}),
    NoteState.DELETED: frozenset(),
}


class Dialect(enum.StrEnum):
    """How a server is spoken to (FEDERATION.md, FEP-1b12)."""

    GROUP = "group"  # Announce{Create/Update/Delete} verbatim: Lemmy, PieFed, NodeBB, …
    MICROBLOG = "microblog"  # Announce{object: id}, Undo{Announce}: Mastodon and the rest


class SignatureSpec(enum.StrEnum):
    CAVAGE = "cavage"  # draft-cavage-http-signatures-12
    RFC9421 = "rfc9421"


class DeliveryState(enum.StrEnum):
    """A row of the delivery queue (docs/delivery.md)."""

    PENDING = "pending"  # to send, now or at its next attempt
    DELIVERED = "delivered"
    DEAD = "dead"  # given up (a final answer, two days of failures, a recipient gone)
    ASIDE = "aside"  # unanswered while its server answered others: waits for a person


# Delivered is final; dead and aside rows are sent again only by hand.
DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PENDING: frozenset(
        {DeliveryState.DELIVERED, DeliveryState.DEAD, DeliveryState.ASIDE}
    ),
    DeliveryState.DEAD: frozenset({DeliveryState.PENDING}),
    DeliveryState.ASIDE: frozenset({DeliveryState.PENDING}),
    DeliveryState.DELIVERED: frozenset(),
}


class BackfillState(enum.StrEnum):
    """The job reading a followed group's history (docs/delivery.md "Backfill")."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # out of attempts


# Any job can be asked for again (a new Accept, an operator); running ends done or failed.
BACKFILL_TRANSITIONS: dict[BackfillState, frozenset[BackfillState]] = {
    BackfillState.PENDING: frozenset({BackfillState.DONE, BackfillState.FAILED}),
    BackfillState.DONE: frozenset({BackfillState.PENDING}),
    BackfillState.FAILED: frozenset({BackfillState.PENDING}),
}

_S = TypeVar("_S", DiscussionState, NoteState, DeliveryState, BackfillState, "RemoteGroupState")


def states_leading_to(table: dict[_S, frozenset[_S]], target: _S) -> tuple[str, ...]:
    """The states from which ``target`` may be reached (for a guarded UPDATE)."""
    return tuple(sorted(state.value for state, nexts in table.items() if target in nexts))


def utcnow() -> str:
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """Our canonical UTC form. Whole seconds print without a fraction (what we mint);
    a remote time keeps its fraction, so two edits within one second stay ordered.
    The year always has four digits (``strftime`` wrote year 999 as "999", which no
    read could parse back); raises OverflowError when the UTC instant is outside years
    1–9999 (a remote "0001-01-01T00:00:00+14:00")."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


# A time from elsewhere must be shown in any time zone (±14 h) without leaving years
# 1-9999, where Python's datetime ends: "9999-12-31T23:30Z" in Amsterdam is year 10000,
# and the page that showed it answered 500 to everyone.
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)


def read_time(text: str) -> datetime | None:
    """A time from elsewhere (a remote activity, an imported archive): ISO 8601, UTC
    when it names no zone; None when it is not a time or lies outside the years any
    page can show. Compared as an instant, before any conversion."""
    try:
        moment = parse_time(text)
    except ValueError:
        return None
    return moment if EARLIEST <= moment <= LATEST else None


def parse_time(text: str) -> datetime:
    """Any time we stored (with or without a fraction) → an aware instant. Times are
    compared as instants, never as strings of different precision. A year of fewer
    than four digits is what earlier versions wrote for a remote year before 1000."""
    dash = text.find("-")
    if 0 < dash < 4:
        text = "0" * (4 - dash) + text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_newer_edit(updated: str, last_edit: str | None) -> bool:
    """Mastodon's rule for an incoming edit: the first edit always applies; a later one
    only when its ``updated`` is a later instant than the last edit we applied."""
    return last_edit is None or parse_time(updated) > parse_time(last_edit)


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
    label: str = ""  # an imported archive's category, shown on the page
    imported_at: str | None = None  # when an archive brought it in (docs/ning.md)
    icon_at: str | None = None  # its own avatar, since (None: the instance's)
    header_at: str | None = None  # its own header image, since
    category_id: int | None = None  # the category it belongs to (#16), if any
    pinned_at: str | None = None  # pinned in its category's featured collection, since

    @property
    def is_deleted(self) -> bool:
        return self.state is DiscussionState.DELETED

    @property
    def accepts_replies(self) -> bool:
        return self.state is DiscussionState.OPEN


def discussion_fields_except(*names: str) -> Callable[[Discussion], tuple[object, ...]]:
    """A cache key: a discussion's fields but ``names``, as a tuple. For the keys of
    what is served per version of a discussion: ``attrgetter`` builds it in ~1 µs, where
    ``dataclasses.replace(d, name=0, …)`` took ~10 and its hash several more."""
    every = [f.name for f in dataclasses.fields(Discussion)]
    if unknown := set(names) - set(every):
        raise ValueError(f"not fields of Discussion: {sorted(unknown)}")
    kept = [name for name in every if name not in names]
    return operator.attrgetter(*kept)  # several names: a tuple


class CategoryPosting(enum.StrEnum):
    """What a post that mentions a category (and replies to nothing) becomes."""

    OPEN = "open"  # a discussion at once
    HELD = "held"  # a proposal, until a moderator approves it
    CLOSED = "closed"  # nothing: the author is told so


class CategoryKind(enum.StrEnum):
    CATEGORY = "category"  # a topic area: the discussions filed under it
    FORUM = "forum"  # the forum-wide actor: every discussion


@dataclasses.dataclass(frozen=True, slots=True)
class Category:
    """A topic area as a Group actor of its own (docs/categories.md)."""

    id: int
    slug: str
    kind: CategoryKind
    name: str
    description: str
    lang: str
    public_key_pem: str
    created_at: str
    updated_at: str
    posting: CategoryPosting = CategoryPosting.HELD
    relay_replies: bool = False  # it also boosts every reply of its discussions

    @property
    def is_forum(self) -> bool:
        return self.kind is CategoryKind.FORUM


class ProposalState(enum.StrEnum):
    HELD = "held"
    APPROVED = "approved"
    REFUSED = "refused"


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """A post from the fediverse that asks to start a discussion in a category."""

    id: int
    category_id: int
    note_ap_id: str
    activity_id: str
    author_id: str
    title: str
    content: str  # sanitised HTML
    lang: str
    state: ProposalState
    discussion_id: int | None
    created_at: str


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


# A group answers our current Follow while it waits or after an Accept (a repeated Accept,
# or a Reject that ends it). Following again (a new Follow) starts over from any state.
REMOTE_FOLLOW_TRANSITIONS: dict[RemoteGroupState, frozenset[RemoteGroupState]] = {
    RemoteGroupState.PENDING: frozenset(set(RemoteGroupState)),
    RemoteGroupState.ACCEPTED: frozenset(set(RemoteGroupState)),
    RemoteGroupState.REJECTED: frozenset({RemoteGroupState.PENDING, RemoteGroupState.ENDED}),
    RemoteGroupState.ENDED: frozenset({RemoteGroupState.PENDING}),
}


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
    # the history job (docs/delivery.md "Backfill"): pending | done | failed, or None
    backfill_state: str | None = None
    backfill_attempts: int = 0
    backfill_error: str | None = None

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
