"""The SQL steps several parts of the store share, one place each (public: every part
imports them from here, none reaches into another's privates). Each takes the open
connection of the caller's transaction, so it joins that transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from fedi_forum.activitypub import vocab
from fedi_forum.errors import NotFound
from fedi_forum.models import NewNote, RemoteActor
from fedi_forum.store.conn import Conn

ACTOR_COLS = (
    "id, host, type, preferred_username, name, url, icon_url, inbox, shared_inbox, key_id, "
    "public_key_pem, fetched_at, raw"
)


def actor_from_row(row: Any) -> RemoteActor:
    return RemoteActor(*row)


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """An activity of ours to queue: its id, JSON, the local actor that signs it, and
    optionally the FEP-1b12 form sent instead to group servers (Lemmy, PieFed, …)."""

    activity_id: str
    payload: str
    signer: str
    group_payload: str | None = None
    # A host that must not get it: an author's own Update/Delete is never relayed back
    # to the author's server (it has it; a server hung on its own Delete stalled a lane).
    skip_host: str | None = None
    # The object it is about: deliveries to one inbox keep their order per subject
    # (docs/delivery.md). Read from the payload unless given.
    subject: str = ""

    def __post_init__(self) -> None:
        if not self.subject:
            doc = orjson.loads(self.payload or self.group_payload or "{}")
            object.__setattr__(self, "subject", vocab.subject_of(doc) or self.activity_id)


@dataclasses.dataclass(frozen=True, slots=True)
class Sharer:
    """Who shared a note with their followers: the group of its discussion ``slug``, or
    (``category`` set) the category that boosts that discussion's replies too. Ids of
    what they send about the note are built from it (forum/notes.py ``Sharing``)."""

    slug: str
    seq: int
    announce_id: str | None  # the group's Announce of it; None for a category (derived)
    category: str | None = None


# Builds the group's Announce of a note once its seq is known (inside the transaction).
AnnounceBuilder = Callable[[int], Outgoing]
# Builds a relaying category's Announce of the same note: (category slug, note id) →
# the activity.
RelayBuilder = Callable[[str, str], Outgoing]
# Builds what followers get when a shared note changes: (who shared it, the note's id)
# → the activity to queue.
FollowUpBuilder = Callable[[Sharer, str], Outgoing]


def queue_follow_up(conn: Conn, note_id: int, build: FollowUpBuilder | None, now: str) -> None:
    """If the group shared this note, tell the same followers it changed; and the
    followers of a category that boosted it too."""
    if build is None:
        return
    row = conn.execute(
        "SELECT d.id, d.slug, n.seq, o.activity_id, n.ap_id FROM notes n "
        "JOIN discussions d ON d.id = n.discussion_id "
        "JOIN outbox o ON o.discussion_id = d.id AND o.object_id = n.ap_id "
        "AND o.type = 'Announce' WHERE n.id = ?",
        (note_id,),
    ).fetchone()
    if row is None:
        return
    discussion_id, slug, seq, announce_id, ap_id = row[0], row[1], row[2], row[3], row[4]
    enqueue_followers(conn, discussion_id, build(Sharer(slug, seq, announce_id), ap_id), now)
    relaying = relaying_category(conn, discussion_id)
    if relaying is not None:
        sharer = Sharer(slug, seq, None, category=relaying[1])
        enqueue_category_followers(conn, [relaying[0]], build(sharer, ap_id), now)


def relay_to_category(
    conn: Conn,
    relaying: tuple[int, str] | None,
    note_id: str,
    relay: RelayBuilder | None,
    now: str,
) -> None:
    """The category's boost of a reply its discussion's group just shared, when it
    boosts replies (docs/categories.md); ``relaying`` is what ``relaying_category``
    answers for the discussion."""
    if relay is not None and relaying is not None:
        enqueue_category_followers(conn, [relaying[0]], relay(relaying[1], note_id), now)


def mark_seen(conn: Conn, actor_id: str, activity_id: str, now: str) -> bool:
    """True the first time ``actor_id`` sends ``activity_id`` (the dedupe of FEDERATION.md
    "Identity and origin"). Keyed by the verified signer too, so no actor can mark
    another's activity as seen before it arrives.

    A request signed by one of a server's actors proves that server alive, so it ends
    its "unavailable" mark; the activity's id proves nothing (anyone can write any id)."""
    mark_alive(conn, urlsplit(actor_id).netloc.lower())
    cur = conn.execute(
        "INSERT INTO activities_seen (actor_id, activity_id, received_at) VALUES (?, ?, ?) "
        "ON CONFLICT (actor_id, activity_id) DO NOTHING",
        (actor_id, activity_id, now),
    )
    return cur.rowcount == 1


_ENQUEUE = (
    "INSERT INTO deliveries (activity_id, inbox, host, subject, payload, group_payload, "
    "signer, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (activity_id, inbox) DO NOTHING"
)


def enqueue(conn: Conn, out: Outgoing, inbox: str, now: str) -> None:
    enqueue_all(conn, out, [inbox], now)


def enqueue_all(conn: Conn, out: Outgoing, inboxes: Sequence[str], now: str) -> None:
    """``out`` to each of ``inboxes``, once (a repeat of one is ignored). One statement
    for them all: on PostgreSQL one round trip, not one per inbox (psycopg pipelines
    ``executemany``), so a reply to a discussion with followers on 200 servers does not
    hold the writer for 200 round trips. One inbox (a reply's Announce to its author,
    most often) is a plain statement: psycopg's pipeline costs ~0.1 ms more for one."""
    rows = [
        (
            out.activity_id,
            inbox,
            urlsplit(inbox).netloc.lower(),
            out.subject,
            out.payload,
            out.group_payload,
            out.signer,
            now,
            now,
        )
        for inbox in inboxes
    ]
    if len(rows) == 1:
        conn.execute(_ENQUEUE, rows[0])
    elif rows:
        conn.executemany(_ENQUEUE, rows)


def enqueue_followers(
    conn: Conn,
    discussion_id: int,
    out: Outgoing,
    now: str,
    extra_inboxes: Sequence[str] = (),
) -> int:
    """One delivery per shared inbox (personal inbox where none is known)."""
    rows = conn.execute(
        "SELECT DISTINCT coalesce(shared_inbox, inbox) FROM follows WHERE discussion_id = ?",
        (discussion_id,),
    ).fetchall()
    inboxes = {r[0] for r in rows} | set(extra_inboxes)
    if out.skip_host is not None:
        inboxes = {i for i in inboxes if urlsplit(i).netloc.lower() != out.skip_host}
    enqueue_all(conn, out, sorted(inboxes), now)
    return len(inboxes)


def enqueue_category_followers(
    conn: Conn, category_ids: Sequence[int], out: Outgoing, now: str, skip: Sequence[str] = ()
) -> int:
    """``out`` to the followers of each of ``category_ids``, one delivery per inbox
    (their shared inbox where known), none to an inbox in ``skip``."""
    if not category_ids:
        return 0
    marks = ",".join("?" * len(category_ids))
    rows = conn.execute(
        "SELECT DISTINCT coalesce(shared_inbox, inbox) FROM follows "
        f"WHERE category_id IN ({marks})",
        tuple(category_ids),
    ).fetchall()
    inboxes = sorted({r[0] for r in rows} - set(skip))
    enqueue_all(conn, out, inboxes, now)
    return len(inboxes)


# The category that boosts a discussion's replies: joined to a read of the discussion
# (``d``), its columns last, read by ``relaying_from``.
RELAYING_JOIN = "LEFT JOIN categories c ON c.id = d.category_id AND c.relay_replies = 1"
RELAYING_COLS = "c.id, c.slug"


def relaying_from(row: Any) -> tuple[int, str] | None:
    """(id, slug) from a row whose last two columns are ``RELAYING_COLS``."""
    return None if row[-2] is None else (int(row[-2]), str(row[-1]))


def relaying_category(conn: Conn, discussion_id: int) -> tuple[int, str] | None:
    """(id, slug) of the category of ``discussion_id`` when it boosts every reply."""
    row = conn.execute(
        f"SELECT {RELAYING_COLS} FROM discussions d {RELAYING_JOIN} WHERE d.id = ?",
        (discussion_id,),
    ).fetchone()
    return None if row is None else relaying_from(row)


def upsert_actor(conn: Conn, actor: RemoteActor) -> None:
    conn.execute(
        f"INSERT INTO actors ({ACTOR_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET host = excluded.host, type = excluded.type, "
        "preferred_username = excluded.preferred_username, name = excluded.name, "
        "url = excluded.url, icon_url = excluded.icon_url, inbox = excluded.inbox, "
        "shared_inbox = excluded.shared_inbox, key_id = excluded.key_id, "
        "public_key_pem = excluded.public_key_pem, fetched_at = excluded.fetched_at, "
        "raw = excluded.raw, state = 'active'",
        dataclasses.astuple(actor),
    )


def append_note(
    conn: Conn, discussion_id: int, note: NewNote, state: str = "visible"
) -> int | None:
    """The next seq for ``note`` (None if its id is known or tombstoned). A held note
    (pre-moderation) takes its place now but is not counted until approved."""
    # The check for a known or tombstoned id rides on the UPDATE that takes the seq: one
    # statement, not two (the inbox's hottest write; each is a round trip on PostgreSQL).
    row = conn.execute(
        "UPDATE discussions SET last_seq = last_seq + 1, reply_count = reply_count + ?, "
        "revision = revision + 1, last_activity_at = ? WHERE id = ? "
        "AND NOT EXISTS (SELECT 1 FROM notes WHERE ap_id = ?) "
        "AND NOT EXISTS (SELECT 1 FROM tombstones WHERE ap_id = ?) RETURNING last_seq",
        (int(state == "visible"), note.accepted_at, discussion_id, note.ap_id, note.ap_id),
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM discussions WHERE id = ?", (discussion_id,)).fetchone():
            return None  # the id is known, or tombstoned
        raise NotFound(f"no discussion {discussion_id}")
    seq = int(row[0])
    conn.execute(
        "INSERT INTO notes (discussion_id, seq, ap_id, activity_id, author_id, in_reply_to, "
        "in_reply_to_seq, content, summary, sensitive, lang, url, visibility, published, "
        "updated, accepted_at, raw, state, is_local, official) VALUES (?, ?, ?, ?, ?, ?, "
        "(SELECT seq FROM notes WHERE ap_id = ? AND discussion_id = ?), "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            discussion_id,
            seq,
            note.ap_id,
            note.activity_id,
            note.author_id,
            note.in_reply_to,
            note.in_reply_to,
            discussion_id,
            note.content,
            note.summary,
            int(note.sensitive),
            note.lang,
            note.url,
            note.visibility,
            note.published,
            note.updated,
            note.accepted_at,
            note.raw,
            state,
            int(note.is_local),
            int(note.official),
        ),
    )
    return seq


def mark_alive(conn: Conn, host: str) -> None:
    """A server we marked unavailable sent us something: try it again."""
    conn.execute(
        "UPDATE instances SET unavailable_since = NULL, failing_since = NULL, failures = 0 "
        "WHERE host = ? AND unavailable_since IS NOT NULL",
        (host,),
    )


def tombstone_note(conn: Conn, note_id: int, now: str) -> None:
    """A note of ours becomes a tombstone: it keeps its place (seq), loses its text."""
    conn.execute(
        "UPDATE notes SET state = 'deleted', content = '', summary = NULL, raw = NULL, "
        "updated = ? WHERE id = ?",
        (now, note_id),
    )


def remember_tombstone(conn: Conn, ap_id: str, actor_id: str, now: str) -> None:
    """A deleted id is never created again (a late or replayed Create is refused)."""
    conn.execute(
        "INSERT INTO tombstones (ap_id, actor_id, deleted_at) VALUES (?, ?, ?) "
        "ON CONFLICT (ap_id) DO NOTHING",
        (ap_id, actor_id, now),
    )


def bump_revision(conn: Conn, discussion_id: int, replies: int = 0) -> None:
    """Something shown of the discussion changed: a new revision (cached pages and
    documents are keyed by it), and ``replies`` more (or fewer) visible replies."""
    conn.execute(
        # CASE, not max(a, b): SQLite's two-argument max is PostgreSQL's greatest
        "UPDATE discussions SET revision = revision + 1, reply_count = "
        "CASE WHEN reply_count + ? > 0 THEN reply_count + ? ELSE 0 END WHERE id = ?",
        (replies, replies, discussion_id),
    )


def add_to_outbox(
    conn: Conn,
    discussion_id: int,
    *,
    activity_id: str,
    type_: str,
    object_id: str | None,
    published: str,
    payload: str,
) -> None:
    """An activity of the group in its outbox (once: a repeat changes nothing)."""
    conn.execute(
        "INSERT INTO outbox (discussion_id, activity_id, type, object_id, published, "
        "payload) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
        (discussion_id, activity_id, type_, object_id, published, payload),
    )


def upsert_follower(
    conn: Conn,
    discussion_id: int | None,
    *,
    actor_id: str,
    follow_activity_id: str | None,
    inbox: str,
    shared_inbox: str | None,
    now: str,
    category_id: int | None = None,
) -> None:
    """Store a follower of a discussion (or, with ``category_id``, of a category), or
    refresh its Follow and inboxes."""
    # one of two column names, chosen here, never from input
    target = "discussion_id" if category_id is None else "category_id"
    conn.execute(
        f"INSERT INTO follows ({target}, actor_id, follow_activity_id, inbox, "
        "shared_inbox, created_at) VALUES (?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT ({target}, actor_id) DO UPDATE SET "
        "follow_activity_id = excluded.follow_activity_id, inbox = excluded.inbox, "
        "shared_inbox = excluded.shared_inbox",
        (
            discussion_id if category_id is None else category_id,
            actor_id,
            follow_activity_id,
            inbox,
            shared_inbox,
            now,
        ),
    )
