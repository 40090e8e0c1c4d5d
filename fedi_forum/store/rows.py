"""Column lists and row → value mappings shared by the store's parts.

SQL text built from the column lists is assembled only from these constants; every value
is a bound parameter."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fedi_forum.models import (
    Author,
    Category,
    CategoryKind,
    CategoryPosting,
    Discussion,
    DiscussionState,
    Note,
    NoteState,
)

RowLike = sqlite3.Row | Mapping[str, Any]

DISCUSSION_COLS = (
    "d.id, d.slug, d.title, d.summary, d.lang, d.state, d.announce_replies, d.public_key_pem, "
    "d.views, d.last_seq, d.reply_count, d.created_at, d.updated_at, d.last_activity_at, "
    "d.revision, d.premoderate, d.label, d.imported_at, d.icon_at, d.header_at, d.category_id, "
    "d.pinned_at"
)
DISCUSSION_WIDTH = DISCUSSION_COLS.count(",") + 1  # where a joined row's next part starts
NOTE_COLS = (
    "n.id, n.discussion_id, n.seq, n.ap_id, n.author_id, n.in_reply_to, n.in_reply_to_seq, "
    "n.content, n.summary, n.sensitive, n.lang, n.url, n.state, n.published, n.updated, "
    "n.is_local, n.official, a.name AS a_name, a.preferred_username AS a_username, "
    "a.host AS a_host, a.url AS a_url, a.icon_url AS a_icon"
)
NOTE_FROM = "notes n LEFT JOIN actors a ON a.id = n.author_id"


CATEGORY_COLS = (
    "c.id, c.slug, c.kind, c.name, c.description, c.lang, c.public_key_pem, "
    "c.created_at, c.updated_at, c.posting, c.relay_replies"
)


def category_from_row(row: RowLike) -> Category:
    return Category(
        id=row["id"],
        slug=row["slug"],
        kind=CategoryKind(row["kind"]),
        name=row["name"],
        description=row["description"],
        lang=row["lang"],
        public_key_pem=row["public_key_pem"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        posting=CategoryPosting(row["posting"]),
        relay_replies=bool(row["relay_replies"]),
    )


def discussion_from_row(row: RowLike) -> Discussion:
    return Discussion(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        summary=row["summary"],
        lang=row["lang"],
        state=DiscussionState(row["state"]),
        announce_replies=bool(row["announce_replies"]),
        public_key_pem=row["public_key_pem"],
        views=row["views"],
        last_seq=row["last_seq"],
        reply_count=row["reply_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
        revision=row["revision"],
        premoderate=bool(row["premoderate"]),
        label=row["label"],
        imported_at=row["imported_at"],
        icon_at=row["icon_at"],
        header_at=row["header_at"],
        category_id=row["category_id"],
        pinned_at=row["pinned_at"],
    )


class _Row(Mapping[str, Any]):
    __slots__ = ("_names", "_values")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._names = {n: i for i, n in enumerate(names)}
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._names[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def split_row(row: RowLike, start: int, stop: int | None) -> RowLike:
    """A slice of a joined row, with its own column names (joins repeat names like id)."""
    names = list(row.keys())[start:stop]
    return _Row([n.split(".")[-1] for n in names], tuple(row)[start:stop])


def note_from_row(row: RowLike) -> Note:
    username, host = row["a_username"], row["a_host"]
    author = Author(
        actor_id=row["author_id"],
        name=row["a_name"] or username or "",
        handle=f"@{username}@{host}" if username and host else "",
        profile_url=row["a_url"] or row["author_id"],
        avatar_url=row["a_icon"] or "",
    )
    return Note(
        id=row["id"],
        discussion_id=row["discussion_id"],
        seq=row["seq"],
        ap_id=row["ap_id"],
        author=author,
        in_reply_to=row["in_reply_to"],
        in_reply_to_seq=row["in_reply_to_seq"],
        content=row["content"],
        summary=row["summary"],
        sensitive=bool(row["sensitive"]),
        lang=row["lang"],
        url=row["url"],
        state=NoteState(row["state"]),
        published=row["published"],
        updated=row["updated"],
        is_local=bool(row["is_local"]),
        official=bool(row["official"]),
    )
