"""Reading a Ning Archiver export (the format and its quirks: docs/ning.md; a small
sample export: tests/fixtures/ning-archive-sample).

Attacker-controlled input, in the sense that an archive is whatever the export tool (or
anyone since) wrote: every field is checked for its type, a missing one has a default,
and nothing here publishes anything. The discussions file of a large network is hundreds
of megabytes, so it is read as a stream of top-level objects, one at a time: memory stays
that of the largest single topic.

Why a hand-written splitter and not a streaming JSON library (ijson): real exports wrap
the array in parentheses and some lack the comma between objects (``}{``); a strict
parser stops at the first. Splitting on balanced braces outside strings survives both,
and each object is then parsed strictly (orjson).
"""

from __future__ import annotations

import dataclasses
import html
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fedi_forum.errors import InvalidInput
from fedi_forum.models import format_time, read_time

MEMBERS = "ning-members-local.json"
DISCUSSIONS = "ning-discussions-local.json"
BLOGS = "ning-blogs-local.json"
GROUPS = "ning-groups-local.json"
KINDS = {"discussions": DISCUSSIONS, "blogs": BLOGS}

CHUNK = 1 << 16
MAX_OBJECT = 64 << 20  # one topic with every comment; beyond this the file is not an export
MAX_TITLE = 200
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class ArchiveError(InvalidInput):
    """The archive cannot be read (the command exits non-zero with this message)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, public_message=detail)  # the operator's own files


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    key: str  # contributorName: the archive's stable id of a member (never published)
    full_name: str
    level: str  # member, admin, moderator, owner: never turned into staff rights


@dataclasses.dataclass(frozen=True, slots=True)
class Comment:
    id: str
    author: str  # a contributorName, possibly not in the members file
    body: str  # Ning's HTML, unsanitised
    created: str  # our canonical time form
    attachments: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Topic:
    """A discussion or a blog post, with its comments oldest first."""

    id: str
    kind: str  # "discussions" or "blogs"
    author: str
    title: str  # unescaped plain text
    body: str
    created: str
    updated: str
    category: str  # "" for Ning's "Uncategorized"
    group_id: str
    attachments: tuple[str, ...]
    comments: tuple[Comment, ...]
    views: int

    @property
    def last_activity(self) -> str:
        return self.comments[-1].created if self.comments else self.created


class _Splitter:
    """Finds where each top-level ``{…}`` ends, across chunks: braces count only
    outside strings, and a backslash escapes the next byte inside one."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.start = -1  # where the open object began in the current chunk (-1: earlier)

    def ends(self, chunk: bytes) -> Iterator[tuple[int, int]]:
        """(start, end) in ``chunk`` of each object ending there; start is -1 for one
        that began in an earlier chunk."""
        self.start = -1
        for i, byte in enumerate(chunk):
            if self.depth == 0:
                if byte == 0x7B:  # "{" opens a top-level object; anything else between
                    self.depth, self.start = 1, i  # objects (commas, parens, CRLF) is skipped
                continue
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte == 0x7B:
                self.depth += 1
            elif byte == 0x7D:
                self.depth -= 1
                if self.depth == 0:
                    yield self.start, i
                    self.start = -1


def iter_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The top-level objects of one archive file, one at a time, whatever wraps them
    (``( [...] )``, a bare array, missing commas, CRLF, a byte-order mark)."""
    splitter = _Splitter()
    buf = bytearray()  # the beginning of an object that goes on in the next chunk
    offset = 0
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from exc
    with stream:
        while chunk := stream.read(CHUNK):
            for start, end in splitter.ends(chunk):
                if start < 0:
                    buf += chunk[: end + 1]
                    piece = bytes(buf)
                    buf.clear()
                else:
                    piece = chunk[start : end + 1]
                yield _parse(piece, path, offset + end)
            if splitter.depth:
                buf += chunk[max(splitter.start, 0) :]
                if len(buf) > MAX_OBJECT:
                    raise ArchiveError(f"{path.name}: an object over {MAX_OBJECT} bytes")
            offset += len(chunk)
    if splitter.depth:
        raise ArchiveError(f"{path.name}: the file ends inside an object (truncated?)")


def _parse(raw: bytes, path: Path, at: int) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"{path.name}: unreadable object ending at byte {at}: {exc}") from exc
    if not isinstance(value, dict):  # pragma: no cover - a balanced {…} parses to a dict
        raise ArchiveError(f"{path.name}: not an object at byte {at}")
    return value


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _files(obj: dict[str, Any]) -> tuple[str, ...]:
    value = obj.get("fileAttachments")
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str) and v)


def ning_time(text: str) -> str | None:
    """Ning's ISO 8601 (``2009-07-01T09:00:00.000Z``) in our canonical form; None when
    it is not a time, or one no page could show (``read_time``). Parsed, never
    compared as text."""
    moment = read_time(text)
    return None if moment is None else format_time(moment.replace(microsecond=0))


def read_members(directory: Path) -> dict[str, Member]:
    """Every member by contributorName (a missing members file: no one is known)."""
    path = directory / MEMBERS
    if not path.exists():
        return {}
    members = {}
    for obj in iter_objects(path):
        key = _text(obj, "contributorName").strip()
        if key:
            members[key] = Member(
                key, " ".join(_text(obj, "fullName").split()), _text(obj, "level")
            )
    return members


def read_groups(directory: Path) -> dict[str, str]:
    """Ning group id → its title."""
    path = directory / GROUPS
    if not path.exists():
        return {}
    return {
        _text(obj, "id"): plain_title(_text(obj, "title"))
        for obj in iter_objects(path)
        if _text(obj, "id")
    }


def plain_title(escaped: str) -> str:
    """A Ning title (HTML-escaped, sometimes twice) as plain text on one line."""
    text = html.unescape(html.unescape(escaped))
    return " ".join(text.split())[:MAX_TITLE]


def read_topics(directory: Path, kind: str) -> Iterator[Topic | str]:
    """The topics of one kind, in the file's order (newest first in real exports), each
    with its comments oldest first; an item that cannot be a topic is yielded as the
    reason it was skipped (counted in the summary)."""
    path = directory / KINDS[kind]
    if not path.exists():
        return
    for obj in iter_objects(path):
        yield _topic(obj, kind)


def _topic(obj: dict[str, Any], kind: str) -> Topic | str:
    topic_id = _text(obj, "id").strip()
    if not topic_id:
        return "an item without an id"
    created = ning_time(_text(obj, "createdDate"))
    if created is None:
        return f"{topic_id}: no valid createdDate"
    title = plain_title(_text(obj, "title")) or topic_id
    comments = []
    raw_comments = obj.get("comments")
    for c in raw_comments if isinstance(raw_comments, list) else ():
        if not isinstance(c, dict):
            continue
        comment_id = _text(c, "id").strip()
        when = ning_time(_text(c, "createdDate"))
        if not comment_id or when is None:
            continue  # counted by the caller as skipped comments would need ids; none
        comments.append(
            Comment(
                comment_id,
                _text(c, "contributorName").strip(),
                _text(c, "description"),
                when,
                _files(c),
            )
        )
    # Exports list comments newest first; order by time (then id) whatever they did.
    comments.sort(key=lambda c: (c.created, c.id))
    category = " ".join(_text(obj, "category").split())
    views = obj.get("viewCount", obj.get("views"))
    return Topic(
        id=topic_id,
        kind=kind,
        author=_text(obj, "contributorName").strip(),
        title=title,
        body=_text(obj, "description"),
        created=created,
        updated=ning_time(_text(obj, "updatedDate")) or created,
        category="" if category.lower() == "uncategorized" else category[:100],
        group_id=_text(obj, "groupId"),
        attachments=_files(obj),
        comments=tuple(comments),
        views=views if isinstance(views, int) and 0 <= views < 2**53 else 0,
    )


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def ning_slug(text: str) -> str:
    """The last part of a Ning topic URL: the title lower-cased, every run of other
    characters a hyphen. Applied to an incoming URL too, so either side's variations
    (accents, case, doubled hyphens) meet."""
    return _NOT_ALNUM.sub("-", _ascii(text)).strip("-")[:200]


def our_slug(title: str, max_length: int = 30) -> str:
    """A slug of ours for a title: ASCII words joined by underscores, cut at a word
    boundary to fit (a suffix is added on collision by the caller)."""
    words = [w for w in _NOT_SLUG.split(_ascii(title)) if w]
    slug = ""
    for word in words:
        candidate = f"{slug}_{word}" if slug else word
        if len(candidate) > max_length:
            break
        slug = candidate
    return slug or (words[0][:max_length] if words else "")
