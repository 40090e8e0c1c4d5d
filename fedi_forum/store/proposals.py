"""Proposals (docs/categories.md): posts from the fediverse that ask to start a
discussion in a category, kept until a moderator decides (or decided at once, by the
category's posting rule), with the category's answer to their author."""

from __future__ import annotations

import dataclasses

from fedi_forum.models import Proposal, ProposalState, RemoteActor
from fedi_forum.store.conn import Conn
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import Outgoing, enqueue, mark_seen, upsert_actor
from fedi_forum.store.rows import RowLike

PROPOSAL_COLS = (
    "p.id, p.category_id, p.note_ap_id, p.activity_id, p.author_id, p.title, p.content, "
    "p.lang, p.state, p.discussion_id, p.created_at"
)


def proposal_from_row(row: RowLike) -> Proposal:
    return Proposal(
        id=row["id"],
        category_id=row["category_id"],
        note_ap_id=row["note_ap_id"],
        activity_id=row["activity_id"],
        author_id=row["author_id"],
        title=row["title"],
        content=row["content"],
        lang=row["lang"],
        state=ProposalState(row["state"]),
        discussion_id=row["discussion_id"],
        created_at=row["created_at"],
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewProposal:
    category_id: int
    note_ap_id: str
    activity_id: str
    author: RemoteActor
    title: str
    content: str
    lang: str
    now: str


class ProposalStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def add_proposal(
        self, new: NewProposal, *, max_waiting: int, max_per_host_day: int, day_ago: str
    ) -> Proposal | None:
        """Keep a proposal (its Create seen once), unless its author already has
        ``max_waiting`` waiting or their server sent ``max_per_host_day`` since
        ``day_ago``: None then (and for a duplicate)."""

        def write(conn: Conn) -> Proposal | None:
            if not mark_seen(conn, new.author.id, new.activity_id, new.now):
                return None
            (waiting,) = conn.execute(
                "SELECT count(*) FROM proposals WHERE author_id = ? AND state = 'held'",
                (new.author.id,),
            ).fetchone()
            (recent,) = conn.execute(
                "SELECT count(*) FROM proposals WHERE author_host = ? AND created_at > ?",
                (new.author.host, day_ago),
            ).fetchone()
            if waiting >= max_waiting or recent >= max_per_host_day:
                return None
            upsert_actor(conn, new.author)
            conn.execute(
                "INSERT INTO proposals (category_id, note_ap_id, activity_id, author_id, "
                "author_host, title, content, lang, created_at) VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (note_ap_id) DO NOTHING",
                (
                    new.category_id,
                    new.note_ap_id,
                    new.activity_id,
                    new.author.id,
                    new.author.host,
                    new.title,
                    new.content,
                    new.lang,
                    new.now,
                ),
            )
            row = conn.execute(
                f"SELECT {PROPOSAL_COLS} FROM proposals p WHERE note_ap_id = ?",
                (new.note_ap_id,),
            ).fetchone()
            return proposal_from_row(row)

        return await self.db.write(write)

    async def proposal(self, proposal_id: int) -> Proposal | None:
        row = await self.db.fetch_one(
            f"SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.id = ?", (proposal_id,)
        )
        return None if row is None else proposal_from_row(row)

    async def held_proposals(self, limit: int = 100) -> list[Proposal]:
        """Waiting for a moderator, oldest first."""
        rows = await self.db.fetch_all(
            f"SELECT {PROPOSAL_COLS} FROM proposals p WHERE p.state = 'held' ORDER BY p.id LIMIT ?",
            (limit,),
        )
        return [proposal_from_row(r) for r in rows]

    async def move_proposal(
        self, proposal_id: int, to: ProposalState, *, expected: ProposalState, now: str
    ) -> bool:
        """``expected`` → ``to``, once (two moderators deciding at once: one wins)."""

        def write(conn: Conn) -> bool:
            changed = conn.execute(
                "UPDATE proposals SET state = ?, decided_at = ? WHERE id = ? AND state = ?",
                (to.value, now, proposal_id, expected.value),
            ).rowcount
            return bool(changed == 1)

        return await self.db.write(write)

    async def answer_proposal(
        self,
        proposal_id: int,
        *,
        discussion_id: int | None,
        answer: Outgoing,
        answer_doc: str,
        inbox: str | None,
        now: str,
    ) -> None:
        """Record the discussion a decided proposal opened (if any) and the category's
        answer to its author, queued in the same transaction."""

        def write(conn: Conn) -> None:
            conn.execute(
                "UPDATE proposals SET discussion_id = ?, answer = ? WHERE id = ?",
                (discussion_id, answer_doc, proposal_id),
            )
            if inbox:
                enqueue(conn, answer, inbox, now)

        await self.db.write(write)

    async def proposal_answer(self, proposal_id: int) -> str | None:
        """The category's answer to the author (a Note), once decided."""
        row = await self.db.fetch_one("SELECT answer FROM proposals WHERE id = ?", (proposal_id,))
        return None if row is None or row[0] is None else str(row[0])
