"""Likes and boosts of our notes, and Undo — which reverses either a reaction or a
Follow, so it lives beside the reactions and looks the undone activity up."""

from __future__ import annotations

import enum

from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import (
    mark_seen,
)


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
            note = conn.execute("SELECT id FROM notes WHERE ap_id = ?", (note_ap_id,)).fetchone()
            if note is None or not mark_seen(conn, actor_id, activity_id, now):
                return False
            cur = conn.execute(
                "INSERT INTO reactions (note_id, actor_id, kind, content, activity_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id) DO NOTHING",
                (note[0], actor_id, kind, content, activity_id, now),
            )
            return cur.rowcount == 1

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
                "DELETE FROM reactions WHERE activity_id = ? AND actor_id = ?",
                (undone_id, actor_id),
            ).rowcount
            if follows:
                return UndoResult.FOLLOW
            return UndoResult.REACTION if reactions else UndoResult.NOTHING

        return await self.db.write(write)
