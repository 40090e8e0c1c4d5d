"""What the moderators were last told about (forum/notifications.py): the newest report,
held reply and proposed discussion a notification covered, as markers in ``meta``.
Several processes may run the notifier; a compare-and-set of the markers decides which
one sends a batch."""

from __future__ import annotations

import dataclasses

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine

_REPORT, _HELD, _PROPOSAL = "notified_report", "notified_held", "notified_proposal"
_KEYS = (_REPORT, _HELD, _PROPOSAL)


@dataclasses.dataclass(frozen=True, slots=True)
class NewItem:
    id: int
    slug: str | None
    title: str | None
    seq: int | None  # the message (held replies); None for a report or proposal
    reason: str  # a report's reason code ('' when it has none)


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    markers: tuple[int, int, int]  # (report, note, proposal) ids notified so far
    reports: list[NewItem]
    held: list[NewItem]
    proposals: list[NewItem]

    @property
    def next_markers(self) -> tuple[int, int, int]:
        return (
            max([self.markers[0], *(r.id for r in self.reports)]),
            max([self.markers[1], *(h.id for h in self.held)]),
            max([self.markers[2], *(p.id for p in self.proposals)]),
        )


class NotificationStore:
    """Mixed into ``Store``."""

    db: Engine

    async def pending_notifications(self, limit: int = 100) -> Pending:
        rows = await self.db.fetch_all("SELECT key, value FROM meta WHERE key IN (?, ?, ?)", _KEYS)
        marks = {str(k): int(v) for k, v in rows}
        report_mark, held_mark = marks.get(_REPORT, 0), marks.get(_HELD, 0)
        proposal_mark = marks.get(_PROPOSAL, 0)
        reports = await self.db.fetch_all(
            "SELECT r.id, d.slug, d.title, r.comment, r.source FROM reports r "
            "LEFT JOIN discussions d ON d.id = r.discussion_id "
            "WHERE r.id > ? AND r.state = 'open' ORDER BY r.id LIMIT ?",
            (report_mark, limit),
        )
        held = await self.db.fetch_all(
            "SELECT n.id, d.slug, d.title, n.seq FROM notes n "
            "JOIN discussions d ON d.id = n.discussion_id "
            "WHERE n.state = 'held' AND n.id > ? ORDER BY n.id LIMIT ?",
            (held_mark, limit),
        )
        proposals = await self.db.fetch_all(
            "SELECT p.id, c.slug, p.title FROM proposals p "
            "JOIN categories c ON c.id = p.category_id "
            "WHERE p.state = 'held' AND p.id > ? ORDER BY p.id LIMIT ?",
            (proposal_mark, limit),
        )
        return Pending(
            (report_mark, held_mark, proposal_mark),
            [NewItem(int(r[0]), r[1], r[2], None, _reason(str(r[3]), str(r[4]))) for r in reports],
            [NewItem(int(h[0]), h[1], h[2], int(h[3]), "") for h in held],
            [NewItem(int(p[0]), p[1], p[2], None, "") for p in proposals],
        )

    async def move_notification_markers(
        self, old: tuple[int, int, int], new: tuple[int, int, int]
    ) -> bool:
        """Set the markers to ``new`` if they are still ``old`` (True: this process is
        the one to send; also used to put them back after a failed send)."""

        def write(conn: Conn) -> bool:
            for key, before, after in zip(_KEYS, old, new, strict=True):
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (key, str(before)),
                )
                moved = conn.execute(
                    "UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                    (str(after), key, str(before)),
                ).rowcount
                if moved != 1:
                    raise _Lost  # another process moved them: nothing of this stands
            return True

        try:
            return await self.db.write(write)
        except _Lost:
            return False


class _Lost(Exception):
    pass


def _reason(comment: str, source: str) -> str:
    """The reason code a form report starts its comment with ("[spam] …")."""
    if source == "form" and comment.startswith("[") and "]" in comment:
        return comment[1:].partition("]")[0]
    return ""
