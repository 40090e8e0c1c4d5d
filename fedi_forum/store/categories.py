"""Categories (docs/categories.md): topic areas as Group actors, the discussions filed
under each, and their followers (rows of ``follows`` with a ``category_id``, so every
rule that ends a follow covers them too)."""

from __future__ import annotations

import dataclasses

from fedi_forum.errors import Conflict
from fedi_forum.models import Category, CategoryKind, CategoryPosting, Discussion, Note
from fedi_forum.store.conn import Conn, ConstraintViolation
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import Outgoing, enqueue_category_followers
from fedi_forum.store.rows import (
    CATEGORY_COLS,
    DISCUSSION_COLS,
    DISCUSSION_WIDTH,
    NOTE_COLS,
    category_from_row,
    discussion_from_row,
    note_from_row,
    split_row,
)


@dataclasses.dataclass(frozen=True, slots=True)
class NewCategory:
    slug: str
    kind: CategoryKind
    name: str
    description: str
    lang: str
    public_key_pem: str
    now: str


def slug_taken(conn: Conn, slug: str) -> bool:
    """Whether ``slug`` names an actor already: discussions, categories and staff share
    one namespace (``@name@host``)."""
    return (
        conn.execute(
            "SELECT 1 FROM discussions WHERE slug = ? UNION ALL "
            "SELECT 1 FROM categories WHERE slug = ? UNION ALL "
            "SELECT 1 FROM staff WHERE username = ?",
            (slug, slug, slug),
        ).fetchone()
        is not None
    )


class CategoryStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def create_category(self, new: NewCategory) -> Category:
        def write(conn: Conn) -> Category:
            if slug_taken(conn, new.slug):
                raise Conflict(
                    f"slug {new.slug!r} taken", public_message="that name is already taken"
                )
            try:
                conn.execute(
                    "INSERT INTO categories (slug, kind, name, description, lang, "
                    "public_key_pem, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        new.slug,
                        new.kind.value,
                        new.name,
                        new.description,
                        new.lang,
                        new.public_key_pem,
                        new.now,
                        new.now,
                    ),
                )
            except ConstraintViolation as exc:  # another process, at the same moment
                raise Conflict(
                    f"slug {new.slug!r} taken", public_message="that name is already taken"
                ) from exc
            row = conn.execute(
                f"SELECT {CATEGORY_COLS} FROM categories c WHERE slug = ?", (new.slug,)
            ).fetchone()
            return category_from_row(row)

        return await self.db.write(write)

    async def edit_category(
        self,
        slug: str,
        *,
        name: str,
        description: str,
        posting: CategoryPosting,
        relay_replies: bool,
        now: str,
        update: Outgoing,
    ) -> Category | None:
        """The new name, description and switch, and ``update`` (its Update{Group})
        queued for its followers in the same transaction."""

        def write(conn: Conn) -> Category | None:
            conn.execute(
                "UPDATE categories SET name = ?, description = ?, posting = ?, "
                "relay_replies = ?, updated_at = ? WHERE slug = ?",
                (name, description, posting.value, int(relay_replies), now, slug),
            )
            row = conn.execute(
                f"SELECT {CATEGORY_COLS} FROM categories c WHERE slug = ?", (slug,)
            ).fetchone()
            if row is None:
                return None
            category = category_from_row(row)
            enqueue_category_followers(conn, [category.id], update, now)
            return category

        return await self.db.write(write)

    async def category(self, slug: str) -> Category | None:
        row = await self.db.fetch_one(
            f"SELECT {CATEGORY_COLS} FROM categories c WHERE c.slug = ?", (slug.lower(),)
        )
        return None if row is None else category_from_row(row)

    async def announcing_categories(self, category_id: int | None) -> list[Category]:
        """Whose followers hear of a discussion in ``category_id``: that category and
        the forum-wide actor."""
        rows = await self.db.fetch_all(
            f"SELECT {CATEGORY_COLS} FROM categories c WHERE c.kind = 'forum' OR c.id = ?",
            (category_id,),
        )
        return [category_from_row(r) for r in rows]

    async def category_by_id(self, category_id: int) -> Category | None:
        row = await self.db.fetch_one(
            f"SELECT {CATEGORY_COLS} FROM categories c WHERE c.id = ?", (category_id,)
        )
        return None if row is None else category_from_row(row)

    async def category_size(self, category: Category) -> int:
        """Its live discussions (all of them for the forum-wide actor)."""
        where = "" if category.is_forum else " AND category_id = ?"
        params = () if category.is_forum else (category.id,)
        row = await self.db.fetch_one(
            f"SELECT count(*) FROM discussions WHERE state != 'deleted'{where}", params
        )
        return int(row[0])

    async def categories(self) -> list[tuple[Category, int]]:
        """Every category (the forum-wide actor first), each with its live discussions'
        count."""
        rows = await self.db.fetch_all(
            f"SELECT {CATEGORY_COLS}, (SELECT count(*) FROM discussions d WHERE "
            "d.state != 'deleted' AND (c.kind = 'forum' OR d.category_id = c.id)) AS n "
            "FROM categories c ORDER BY c.kind = 'category', c.name",
        )
        return [(category_from_row(r), int(r["n"])) for r in rows]

    async def newest_by_category(self, per: int) -> dict[int, list[tuple[str, str]]]:
        """The ``per`` newest live discussions of each category, as (slug, title), by
        category id: for the index. One query; each category's part is an index range
        scan (``discussions_category``), so the cost follows the categories, not the
        discussions."""
        rows = await self.db.fetch_all(
            "SELECT c.id, d.slug, d.title FROM categories c JOIN discussions d ON d.id IN "
            "(SELECT d2.id FROM discussions d2 WHERE d2.category_id = c.id "
            "AND d2.state != 'deleted' ORDER BY d2.id DESC LIMIT ?) "
            "WHERE c.kind = 'category' ORDER BY c.id, d.id DESC",
            (per,),
        )
        newest: dict[int, list[tuple[str, str]]] = {}
        for category_id, slug, title in rows:
            newest.setdefault(int(category_id), []).append((str(slug), str(title)))
        return newest

    async def category_discussions(
        self, category: Category, before: int | None, limit: int, *, pinned: bool = False
    ) -> list[tuple[Discussion, Note]]:
        """Its live discussions, newest first (keyset on the discussion id), each with
        its opening post; the forum-wide actor's are all of them. ``pinned``: only the
        pinned ones, most recently pinned first (few: no keyset)."""
        where = "d.state != 'deleted' AND d.id < ?"
        params: list[object] = [before if before is not None else 2**62]
        if not category.is_forum:
            where += " AND d.category_id = ?"
            params.append(category.id)
        order = "d.id DESC"
        if pinned:
            where += " AND d.pinned_at IS NOT NULL"
            order = "d.pinned_at DESC, d.id DESC"
        rows = await self.db.fetch_all(
            f"SELECT {DISCUSSION_COLS}, {NOTE_COLS} FROM discussions d "
            "JOIN notes n ON n.discussion_id = d.id AND n.seq = 0 "
            f"LEFT JOIN actors a ON a.id = n.author_id WHERE {where} "
            f"ORDER BY {order} LIMIT ?",  # order: one of two constants
            (*params, limit),
        )
        return [
            (
                discussion_from_row(split_row(r, 0, DISCUSSION_WIDTH)),
                note_from_row(split_row(r, DISCUSSION_WIDTH, None)),
            )
            for r in rows
        ]

    async def set_discussion_category(
        self, slug: str, category_id: int | None, now: str
    ) -> Discussion | None:
        def write(conn: Conn) -> Discussion | None:
            conn.execute(
                "UPDATE discussions SET category_id = ?, updated_at = ?, "
                "revision = revision + 1 WHERE slug = ? AND state != 'deleted'",
                (category_id, now, slug),
            )
            row = conn.execute(
                f"SELECT {DISCUSSION_COLS} FROM discussions d WHERE slug = ?", (slug,)
            ).fetchone()
            return None if row is None else discussion_from_row(row)

        return await self.db.write(write)

    async def category_followers_count(self, category_id: int) -> int:
        row = await self.db.fetch_one(
            "SELECT count(*) FROM follows WHERE category_id = ?", (category_id,)
        )
        return int(row[0])
