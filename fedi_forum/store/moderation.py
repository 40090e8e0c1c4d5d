"""Store operations of moderation: hiding, restoring and deleting replies, blocks, the
public moderation log and reports from the web form. Each is one transaction that also
writes the log entry and queues whatever the followers must be told."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import orjson

from fedi_forum.models import (
    NOTE_TRANSITIONS,
    NoteAction,
    NoteState,
)
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    FollowUpBuilder,
    Outgoing,
    RelayBuilder,
    add_to_outbox,
    bump_revision,
    enqueue_followers,
    mark_seen,
    queue_follow_up,
    relay_to_category,
    relaying_category,
    remember_tombstone,
    tombstone_note,
)

# action → (the state it leads to, the states it applies to); the moves themselves must
# be in NOTE_TRANSITIONS (deleted is final).
_NOTE_ACTIONS: dict[NoteAction, tuple[NoteState, tuple[str, ...]]] = {
    NoteAction.HIDE: (NoteState.HIDDEN, ("visible",)),
    NoteAction.RESTORE: (NoteState.VISIBLE, ("hidden",)),
    NoteAction.DELETE: (NoteState.DELETED, ("visible", "hidden", "held")),
    NoteAction.APPROVE: (NoteState.VISIBLE, ("held",)),
}


class Moderated(enum.StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"  # not in a state the action applies to
    UNKNOWN = "unknown"  # no such reply


@dataclasses.dataclass(frozen=True, slots=True)
class ModlogEntry:
    id: int
    action: str
    slug: str | None
    title: str | None
    note_seq: int | None
    target: str | None
    reason: str
    created_at: str


def _url_patterns(kind: str, value: str) -> list[str]:
    """LIKE patterns for actor ids of a blocked actor, or of a domain and its subdomains."""
    if kind == "actor":
        return [value]
    patterns = []
    for scheme in ("http", "https"):
        for host in (value, f"%.{value}"):
            patterns += [f"{scheme}://{host}/%", f"{scheme}://{host}:%"]
    return patterns


@dataclasses.dataclass(frozen=True, slots=True)
class ReportedNote:
    seq: int
    state: str
    author: str
    content: str  # sanitised HTML


@dataclasses.dataclass(frozen=True, slots=True)
class ReportView:
    """An open report as the moderators see it. ``reporter`` is the form's contact
    address or the reporting server's actor: never shown outside /admin, never sent to
    the reported author."""

    id: int
    source: str  # form | federated
    reason: str  # a code of forum.moderation.REASONS ('' for a federated report)
    comment: str
    reporter: str
    created_at: str
    slug: str | None
    title: str | None
    notes: list[ReportedNote]


class ModerationStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def moderate_note(
        self,
        *,
        slug: str,
        seq: int,
        action: NoteAction,
        reason: str,
        now: str,
        follow_up: FollowUpBuilder | None = None,
        announce: Callable[[int, str, str | None], Outgoing] | None = None,
        relay: RelayBuilder | None = None,
    ) -> Moderated:
        """``action``: hide (this site only), restore, delete (a tombstone; followers are
        told) or approve (a held reply goes public and, if the discussion shares
        replies, is announced: ``announce(seq, note id, author inbox)``)."""

        def write(conn: Conn) -> Moderated:
            row = conn.execute(
                "SELECT n.id, n.discussion_id, n.state, n.ap_id, n.author_id FROM notes n "
                "JOIN discussions d ON d.id = n.discussion_id "
                "WHERE d.slug = ? AND n.seq = ? AND n.seq > 0",
                (slug, seq),
            ).fetchone()
            if row is None:
                return Moderated.UNKNOWN
            note_id, discussion_id, state, ap_id, author_id = row
            # Each action is one transition of NOTE_TRANSITIONS, from the states named
            # here (restore only un-hides; approve only releases a held reply).
            wanted, sources = _NOTE_ACTIONS[action]
            if state not in sources or wanted not in NOTE_TRANSITIONS[NoteState(state)]:
                return Moderated.UNCHANGED
            if action is NoteAction.DELETE:
                tombstone_note(conn, note_id, now)
                remember_tombstone(conn, ap_id, author_id, now)
                queue_follow_up(conn, note_id, follow_up, now)
            else:
                conn.execute("UPDATE notes SET state = ? WHERE id = ?", (wanted.value, note_id))
            if action is NoteAction.APPROVE and announce is not None:
                shares = conn.execute(
                    "SELECT announce_replies FROM discussions WHERE id = ?", (discussion_id,)
                ).fetchone()[0]
                author = conn.execute(
                    "SELECT coalesce(shared_inbox, inbox) FROM actors WHERE id = ?",
                    (author_id,),
                ).fetchone()
                if shares:
                    out = announce(seq, ap_id, author[0] if author else None)
                    add_to_outbox(
                        conn,
                        discussion_id,
                        activity_id=out.activity_id,
                        type_="Announce",
                        object_id=ap_id,
                        published=now,
                        payload=out.payload,
                    )
                    enqueue_followers(
                        conn, discussion_id, out, now, [author[0]] if author and author[0] else []
                    )
                    relaying = relaying_category(conn, discussion_id) if relay else None
                    relay_to_category(conn, relaying, ap_id, relay, now)
            delta = 1 if wanted == "visible" else (-1 if state == "visible" else 0)
            bump_revision(conn, discussion_id, replies=delta)
            conn.execute(
                "INSERT INTO modlog (action, discussion_id, note_seq, target, reason, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (action.value, discussion_id, seq, ap_id, reason, now),
            )
            return Moderated.DONE

        return await self.db.write(write)

    async def block(self, *, kind: str, value: str, reason: str, now: str) -> tuple[int, int]:
        """Block a domain (and its subdomains) or an actor: their follows end and their
        replies are hidden. Returns (follows removed, notes hidden)."""
        patterns = _url_patterns(kind, value)
        match = " OR ".join(["{col} LIKE ?"] * len(patterns))

        def write(conn: Conn) -> tuple[int, int]:
            conn.execute(
                "INSERT INTO blocks (kind, value, reason, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason",
                (kind, value, reason, now),
            )
            follows = conn.execute(
                f"DELETE FROM follows WHERE {match.format(col='actor_id')}", patterns
            ).rowcount
            hidden = conn.execute(
                f"UPDATE notes SET state = 'hidden' WHERE state = 'visible' AND seq > 0 AND "
                f"({match.format(col='author_id')}) RETURNING discussion_id",
                patterns,
            ).fetchall()
            for (discussion_id,) in hidden:
                bump_revision(conn, discussion_id, replies=-1)
            conn.execute(
                "UPDATE deliveries SET state = 'dead', last_error = 'blocked' "
                f"WHERE state = 'pending' AND ({match.format(col='inbox')})",
                patterns,
            )
            conn.execute(
                "INSERT INTO modlog (action, target, reason, created_at) VALUES (?, ?, ?, ?)",
                ("block", value, reason, now),
            )
            return follows, len(hidden)

        return await self.db.write(write)

    async def unblock(self, *, kind: str, value: str, now: str) -> bool:
        def write(conn: Conn) -> bool:
            gone = conn.execute(
                "DELETE FROM blocks WHERE kind = ? AND value = ?", (kind, value)
            ).rowcount
            if gone:
                conn.execute(
                    "INSERT INTO modlog (action, target, reason, created_at) "
                    "VALUES ('unblock', ?, '', ?)",
                    (value, now),
                )
            return bool(gone)

        return await self.db.write(write)

    async def block_list(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT kind, value, reason, created_at FROM blocks ORDER BY kind, value"
        )
        return [dict(r) for r in rows]

    async def blocks(self) -> tuple[list[str], list[str]]:
        rows = await self.db.fetch_all("SELECT kind, value FROM blocks")
        domains = [r[1] for r in rows if r[0] == "domain"]
        actors = [r[1] for r in rows if r[0] == "actor"]
        return domains, actors

    async def modlog(self, limit: int = 100) -> list[ModlogEntry]:
        rows = await self.db.fetch_all(
            "SELECT m.id, m.action, d.slug, d.title, m.note_seq, m.target, m.reason, "
            "m.created_at FROM modlog m LEFT JOIN discussions d ON d.id = m.discussion_id "
            "ORDER BY m.id DESC LIMIT ?",
            (limit,),
        )
        return [ModlogEntry(*r) for r in rows]

    async def add_form_report(
        self, *, discussion_id: int, note_id: str, comment: str, contact: str | None, now: str
    ) -> None:
        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO reports (source, reporter, discussion_id, note_ids, comment, "
                "created_at) VALUES ('form', ?, ?, ?, ?, ?)",
                (contact, discussion_id, orjson.dumps([note_id]).decode(), comment, now),
            )

        await self.db.write(write)

    async def add_report(
        self,
        *,
        activity_id: str,
        reporter: str,
        discussion_id: int | None,
        note_ids: str,
        comment: str,
        now: str,
    ) -> bool:
        def write(conn: Conn) -> bool:
            if not mark_seen(conn, reporter, activity_id, now):
                return False
            conn.execute(
                "INSERT INTO reports (source, activity_id, reporter, discussion_id, note_ids, "
                "comment, created_at) VALUES ('federated', ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (activity_id) DO NOTHING",
                (activity_id, reporter, discussion_id, note_ids, comment, now),
            )
            return True

        return await self.db.write(write)

    async def reports(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT source, activity_id, reporter, discussion_id, note_ids, comment, state "
            "FROM reports ORDER BY id"
        )
        return [dict(r) for r in rows]

    async def moderation_counts(self) -> tuple[int, int, int]:
        """(open reports, replies waiting for approval, proposed discussions waiting):
        what waits for the moderators."""
        row = await self.db.fetch_one(
            "SELECT (SELECT count(*) FROM reports WHERE state = 'open'), "
            "(SELECT count(*) FROM notes WHERE state = 'held'), "
            "(SELECT count(*) FROM proposals WHERE state = 'held')"
        )
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

    async def report_details(self) -> list[ReportView]:
        """Open reports with what they are about: each reported message of ours (its
        number, state, author and text), oldest report first."""
        rows = await self.db.fetch_all(
            "SELECT r.id, r.source, r.comment, r.reporter, r.created_at, d.slug, d.title, "
            "r.note_ids FROM reports r LEFT JOIN discussions d ON d.id = r.discussion_id "
            "WHERE r.state = 'open' ORDER BY r.id LIMIT 200"
        )
        wanted: dict[int, list[str]] = {}
        for r in rows:
            ids = orjson.loads(r[7]) if r[7] else []
            wanted[int(r[0])] = [i for i in ids if isinstance(i, str)][:20]
        every = sorted({i for ids in wanted.values() for i in ids})
        found: dict[str, ReportedNote] = {}
        for start in range(0, len(every), 500):
            part = every[start : start + 500]
            marks = ",".join("?" * len(part))
            for n in await self.db.fetch_all(
                "SELECT n.ap_id, n.seq, n.state, coalesce(a.name, a.preferred_username, "
                "n.author_id), n.content FROM notes n LEFT JOIN actors a ON a.id = n.author_id "
                f"WHERE n.ap_id IN ({marks})",
                tuple(part),
            ):
                found[str(n[0])] = ReportedNote(int(n[1]), str(n[2]), str(n[3]), str(n[4]))
        views = []
        for r in rows:
            reason, comment = "", str(r[2])
            if r[1] == "form" and comment.startswith("[") and "]" in comment:
                reason, _, comment = comment[1:].partition("]")
                comment = comment.strip()
            views.append(
                ReportView(
                    id=int(r[0]),
                    source=str(r[1]),
                    reason=reason,
                    comment=comment,
                    reporter=str(r[3] or ""),
                    created_at=str(r[4]),
                    slug=r[5],
                    title=r[6],
                    notes=[found[i] for i in wanted[int(r[0])] if i in found],
                )
            )
        return views

    async def open_reports(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT r.id, r.source, r.comment, r.note_ids, r.created_at, d.slug, d.title "
            "FROM reports r LEFT JOIN discussions d ON d.id = r.discussion_id "
            "WHERE r.state = 'open' ORDER BY r.id"
        )
        return [dict(r) for r in rows]

    async def report_authors(self, report_id: int) -> tuple[str, dict[str, list[str]]] | None:
        """(comment, {author actor id: [their reported note ids]}) of a report, for
        forwarding it; only notes by remote authors we know."""
        row = await self.db.fetch_one(
            "SELECT comment, note_ids FROM reports WHERE id = ?", (report_id,)
        )
        if row is None:
            return None
        note_ids = [n for n in orjson.loads(row[1]) if isinstance(n, str)]
        marks = ",".join("?" * len(note_ids)) or "NULL"
        rows = await self.db.fetch_all(
            f"SELECT author_id, ap_id FROM notes WHERE ap_id IN ({marks}) AND is_local = 0",
            note_ids,
        )
        authors: dict[str, list[str]] = {}
        for author_id, ap_id in rows:
            authors.setdefault(author_id, []).append(ap_id)
        return str(row[0]), authors

    async def set_report_state(self, report_id: int, state: str) -> bool:
        def write(conn: Conn) -> bool:
            cur = conn.execute(
                "UPDATE reports SET state = ? WHERE id = ? AND state = 'open'", (state, report_id)
            )
            return cur.rowcount == 1

        return await self.db.write(write)
