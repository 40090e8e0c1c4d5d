"""What an archive import wrote (docs/ning.md): the authors it brought in (``members``),
and each archive item by its own id (``imported_items``), so a re-run adds only what is
missing and old links find their discussion and message. Each discussion is one
transaction: an import cut short resumes at the first discussion it had not finished."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from fedi_forum.errors import Conflict
from fedi_forum.models import NewNote
from fedi_forum.store.conn import Conn, ConstraintViolation, Dialect
from fedi_forum.store.engine import Engine
from fedi_forum.store.primitives import add_to_outbox, append_note


@dataclasses.dataclass(frozen=True, slots=True)
class MemberRow:
    handle: str
    name: str  # '' when not to be named (pages and documents say "former member N")
    known: bool  # False: the archive's members file did not have them
    number: int  # the N of "former member N", stable
    created_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class NewMember:
    key: str  # the archive's id of the member (never published)
    name: str
    known: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ImportedNote:
    """One message of an archive item, before it has a seq."""

    source_id: str
    author_id: str
    content: str  # sanitised HTML
    published: str


@dataclasses.dataclass(frozen=True, slots=True)
class ImportedDiscussion:
    source: str
    source_id: str
    old_slug: str
    slug: str
    title: str
    lang: str
    label: str
    closed: bool
    public_key_pem: str
    views: int
    now: str
    opening: ImportedNote
    messages: Sequence[ImportedNote]  # oldest first


# (slug, seq, message) → the message as we store it, and the group's Announce of it
# (id, JSON): the use case builds the documents, the store only numbers them.
NoteBuilder = Callable[[str, int, ImportedNote], tuple[NewNote, str, str]]


@dataclasses.dataclass(frozen=True, slots=True)
class ImportResult:
    slug: str
    created: bool
    added: int  # messages added (the opening post included when created)


_MEMBER_COLS = "handle, name, known, id, created_at"


class ImportStore:
    """Mixed into ``Store``; see the module docstring."""

    db: Engine

    async def ensure_members(
        self, source: str, members: Sequence[NewMember], now: str, *, add: bool = True
    ) -> dict[str, str]:
        """Each member's handle (archive id → ``ning.N``), adding those not yet here
        (unless not ``add``) and renaming those whose name the import's naming choice
        changed."""

        def write(conn: Conn) -> dict[str, str]:
            handles: dict[str, str] = {}
            renamed = False
            for m in members:
                row = conn.execute(
                    "SELECT handle, name, known FROM members WHERE source = ? AND source_key = ?",
                    (source, m.key),
                ).fetchone()
                if row is None and not add:
                    continue
                if row is None:
                    number = int(
                        conn.execute(
                            "INSERT INTO members (handle, name, known, source, source_key, "
                            "created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                            (f"{source}.new.{m.key}", m.name, int(m.known), source, m.key, now),
                        ).fetchone()[0]
                    )
                    handle = f"{source}.{number}"
                    conn.execute("UPDATE members SET handle = ? WHERE id = ?", (handle, number))
                else:
                    handle = str(row[0])
                    if row[1] != m.name or bool(row[2]) != m.known:
                        conn.execute(
                            "UPDATE members SET name = ?, known = ? WHERE handle = ?",
                            (m.name, int(m.known), handle),
                        )
                        renamed = True
                handles[m.key] = handle
            if renamed:  # pages and feeds showing the old names are cached by revision
                conn.execute(
                    "UPDATE discussions SET revision = revision + 1 WHERE imported_from = ?",
                    (source,),
                )
            return handles

        return await self.db.write(write)

    async def member(self, handle: str) -> MemberRow | None:
        row = await self.db.fetch_one(
            f"SELECT {_MEMBER_COLS} FROM members WHERE handle = ?", (handle.lower(),)
        )
        return None if row is None else MemberRow(row[0], row[1], bool(row[2]), row[3], row[4])

    async def members_by_handle(self, handles: Sequence[str]) -> dict[str, MemberRow]:
        if not handles:
            return {}
        marks = ",".join("?" * len(handles))
        rows = await self.db.fetch_all(
            f"SELECT {_MEMBER_COLS} FROM members WHERE handle IN ({marks})", tuple(handles)
        )
        return {r[0]: MemberRow(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows}

    async def imported_slug(self, source: str, source_id: str) -> str | None:
        """The slug of the discussion an archive item became, if it was imported."""
        row = await self.db.fetch_one(
            "SELECT d.slug FROM imported_items i JOIN discussions d ON d.id = i.discussion_id "
            "WHERE i.source = ? AND i.source_id = ?",
            (source, source_id),
        )
        return None if row is None else str(row[0])

    async def imported_ids(self, source: str, source_ids: Sequence[str]) -> set[str]:
        """Which of ``source_ids`` an earlier run imported."""
        found: set[str] = set()
        for start in range(0, len(source_ids), 500):
            part = source_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = await self.db.fetch_all(
                f"SELECT source_id FROM imported_items WHERE source = ? AND source_id IN ({marks})",
                (source, *part),
            )
            found |= {str(r[0]) for r in rows}
        return found

    async def name_taken(self, name: str) -> bool:
        """A discussion, category or staff member already answers to ``name`` (one
        namespace)."""
        row = await self.db.fetch_one(
            "SELECT 1 FROM discussions WHERE slug = ? UNION ALL SELECT 1 FROM staff "
            "WHERE username = ? UNION ALL SELECT 1 FROM categories WHERE slug = ?",
            (name, name, name),
        )
        return row is not None

    async def old_link(
        self, source: str, *, source_id: str | None = None, old_slug: str | None = None
    ) -> tuple[str, int] | None:
        """(slug, seq) of what an old link named: an item by its archive id, or a topic
        by its old slug (the first imported, when titles repeated)."""
        if source_id is not None:
            sql = "i.source = ? AND i.source_id = ?"
            args: tuple[str, ...] = (source, source_id)
        elif old_slug:
            sql = "i.source = ? AND i.old_slug = ?"
            args = (source, old_slug)
        else:
            return None
        row = await self.db.fetch_one(
            "SELECT d.slug, i.seq FROM imported_items i JOIN discussions d "
            f"ON d.id = i.discussion_id WHERE {sql} AND d.state != 'deleted' "
            "ORDER BY i.discussion_id LIMIT 1",
            args,
        )
        return None if row is None else (str(row[0]), int(row[1]))

    async def import_discussion(self, item: ImportedDiscussion, build: NoteBuilder) -> ImportResult:
        """The discussion of one archive item, created or completed: its messages not yet
        imported are appended in order, each with its Announce in the outbox (so another
        server's backfill sees them). Nothing is queued for delivery: an import sends
        nothing. All of it, or nothing, in one transaction."""

        def write(conn: Conn) -> ImportResult:
            found = conn.execute(
                "SELECT d.id, d.slug FROM imported_items i JOIN discussions d "
                "ON d.id = i.discussion_id WHERE i.source = ? AND i.source_id = ?",
                (item.source, item.source_id),
            ).fetchone()
            added = 0
            if found is None:
                discussion_id = _create(conn, item, build)
                slug, created, added = item.slug, True, 1
            else:
                discussion_id, slug, created = int(found[0]), str(found[1]), False
            seen = _imported(conn, item.source, [m.source_id for m in item.messages])
            # PostgreSQL: the discussion's row locked before its last seq is read, so a
            # reply the inbox accepts meanwhile cannot take the seq a note was built for
            last = int(
                conn.execute(
                    f"SELECT last_seq FROM discussions WHERE id = ?{_LOCK[conn.dialect]}",
                    (discussion_id,),
                ).fetchone()[0]
            )
            for message in item.messages:
                if message.source_id in seen:
                    continue
                seen.add(message.source_id)  # an id listed twice in one topic: once
                note, announce_id, announce = build(slug, last + 1, message)
                seq = append_note(conn, discussion_id, note)
                if seq is None:  # its id is taken: counted as not added
                    continue
                if seq != last + 1:  # the row is locked (or SQLite's one writer): never
                    raise RuntimeError(f"seq {seq} taken while {last + 1} was expected")
                last = seq
                _record(conn, item.source, message.source_id, discussion_id, seq, None)
                _announced(conn, discussion_id, note, announce_id, announce)
                added += 1
            return ImportResult(slug, created, added)

        return await self.db.write(write)


_LOCK = {Dialect.SQLITE: "", Dialect.POSTGRESQL: " FOR UPDATE"}


def _imported(conn: Conn, source: str, source_ids: Sequence[str]) -> set[str]:
    """Which of ``source_ids`` an earlier run (or this transaction) imported."""
    found: set[str] = set()
    for start in range(0, len(source_ids), 500):
        part = source_ids[start : start + 500]
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT source_id FROM imported_items WHERE source = ? AND source_id IN ({marks})",
            (source, *part),
        )
        found |= {str(r[0]) for r in rows}
    return found


def _record(
    conn: Conn, source: str, source_id: str, discussion_id: int, seq: int, old_slug: str | None
) -> None:
    conn.execute(
        "INSERT INTO imported_items (source, source_id, discussion_id, seq, old_slug) "
        "VALUES (?, ?, ?, ?, ?)",
        (source, source_id, discussion_id, seq, old_slug),
    )


def _create(conn: Conn, item: ImportedDiscussion, build: NoteBuilder) -> int:
    opening, announce_id, announce = build(item.slug, 0, item.opening)
    try:
        row = conn.execute(
            "INSERT INTO discussions (slug, title, lang, state, public_key_pem, views, "
            "created_at, updated_at, last_activity_at, imported_from, imported_at, label) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                item.slug,
                item.title,
                item.lang,
                "closed" if item.closed else "open",
                item.public_key_pem,
                item.views,
                opening.published,
                opening.published,
                opening.published,
                item.source,
                item.now,
                item.label,
            ),
        ).fetchone()
    except ConstraintViolation as exc:
        raise Conflict(f"slug {item.slug!r} taken") from exc
    discussion_id = int(row[0])
    conn.execute(
        "INSERT INTO notes (discussion_id, seq, ap_id, activity_id, author_id, is_local, "
        "content, lang, url, visibility, published, accepted_at, raw) "
        "VALUES (?, 0, ?, NULL, ?, 1, ?, ?, ?, 'public', ?, ?, ?)",
        (
            discussion_id,
            opening.ap_id,
            opening.author_id,
            opening.content,
            opening.lang,
            opening.url,
            opening.published,
            opening.accepted_at,
            opening.raw,
        ),
    )
    _record(conn, item.source, item.source_id, discussion_id, 0, item.old_slug)
    _announced(conn, discussion_id, opening, announce_id, announce)
    return discussion_id


def _announced(
    conn: Conn, discussion_id: int, note: NewNote, announce_id: str, announce: str
) -> None:
    """The group's Announce of an imported message in its outbox, under the message's
    date (history, so the outbox reads in the original order), queued to no one."""
    add_to_outbox(
        conn,
        discussion_id,
        activity_id=announce_id,
        type_="Announce",
        object_id=note.ap_id,
        published=note.published,
        payload=announce,
    )
