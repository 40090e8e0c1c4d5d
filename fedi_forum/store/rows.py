"""Row → value mappings shared by the store's mixins."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from fedi_forum.models import Author, Note, NoteState

RowLike = sqlite3.Row | Mapping[str, Any]


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
