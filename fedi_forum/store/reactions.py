"""Likes and boosts of our notes, and Undo — which reverses either a reaction or a
Follow, so it lives beside the reactions and looks the undone activity up. Pages show
the counts, so a reaction, or its undoing, is a new revision of its discussion (cached
pages are keyed by it)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import bump_revision, mark_seen


@dataclasses.dataclass(frozen=True, slots=True)
class Reactions:
    likes: int = 0
    boosts: int = 0


class UndoResult(enum.StrEnum):
    FOLLOW = "follow"
    REACTION = "reaction"
    NOTHING = "nothing"
    DUPLICATE = "duplicate"


class ReactionStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def add_reaction(
        self,
        *,
        activity_id: str,
        note_ap_id: str,
        actor_id: str,
        kind: str,
        content: str | None,
        now: str,
    ) -> bool:
        def write(conn: Conn) -> bool:
            note = conn.execute(
                "SELECT id, discussion_id FROM notes WHERE ap_id = ?", (note_ap_id,)
            ).fetchone()
            if note is None or not mark_seen(conn, actor_id, activity_id, now):
                return False
            cur = conn.execute(
                "INSERT INTO reactions (note_id, actor_id, kind, content, activity_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
                (note[0], actor_id, kind, content, activity_id, now),
            )
            if cur.rowcount != 1:
                return False
            bump_revision(conn, note[1])
            return True

        return await self.db.write(write)

    async def undo(
        self,
        *,
        activity_id: str,
        actor_id: str,
        undone_id: str,
        discussion_id: int | None,
        now: str,
    ) -> UndoResult:
        """``actor_id`` takes back its activity ``undone_id``: a Follow (by its id, or of
        ``discussion_id``) or a reaction. One dedupe mark for the Undo, then whatever it
        undoes: the Undo's id is seen once, whichever kind it turns out to be."""

        def write(conn: Conn) -> UndoResult:
            if not mark_seen(conn, actor_id, activity_id, now):
                return UndoResult.DUPLICATE
            follows = conn.execute(
                "DELETE FROM follows WHERE actor_id = ? AND "
                "(follow_activity_id = ? OR discussion_id = ?)",
                (actor_id, undone_id, discussion_id),
            ).rowcount
            reactions = conn.execute(
                "DELETE FROM reactions WHERE activity_id = ? AND actor_id = ? "
                "RETURNING (SELECT discussion_id FROM notes WHERE notes.id = reactions.note_id)",
                (undone_id, actor_id),
            ).fetchall()
            for (discussion_id_of,) in reactions:
                bump_revision(conn, discussion_id_of)
            if follows:
                return UndoResult.FOLLOW
            return UndoResult.REACTION if reactions else UndoResult.NOTHING

        return await self.db.write(write)

    async def reaction_counts(self, note_ids: Sequence[int]) -> dict[int, Reactions]:
        """Likes and boosts of each of ``note_ids`` (one page's), in one read."""
        if not note_ids:
            return {}
        marks = ",".join("?" * len(note_ids))
        rows = await self.db.fetch_all(
            "SELECT note_id, sum(CASE WHEN kind = 'Like' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN kind = 'Announce' THEN 1 ELSE 0 END) FROM reactions "
            f"WHERE note_id IN ({marks}) GROUP BY note_id",
            tuple(note_ids),
        )
        return {int(r[0]): Reactions(int(r[1]), int(r[2])) for r in rows}
