"""Files an archive import brought along (docs/ning.md), kept in the data directory under
``files/`` and served at ``B/files/...``.

Only the kinds a forum post carries are taken — images, PDF and office documents — and
each must *be* what its name says (its first bytes are checked), so a renamed HTML or
SVG file can never be served from our origin. Each is capped in size."""

from __future__ import annotations

import enum
import os
import shutil
from pathlib import Path

MAX_FILE = 20 << 20

# extension → (content type, the first bytes it must start with, shown inline)
_TYPES: dict[str, tuple[str, tuple[bytes, ...], bool]] = {
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",), True),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",), True),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",), True),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a"), True),
    "webp": ("image/webp", (b"RIFF",), True),
    "pdf": ("application/pdf", (b"%PDF-",), False),
    "doc": ("application/msword", (b"\xd0\xcf\x11\xe0",), False),
    "xls": ("application/vnd.ms-excel", (b"\xd0\xcf\x11\xe0",), False),
    "ppt": ("application/vnd.ms-powerpoint", (b"\xd0\xcf\x11\xe0",), False),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (b"PK\x03\x04",),
        False,
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (b"PK\x03\x04",),
        False,
    ),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        (b"PK\x03\x04",),
        False,
    ),
    "odt": ("application/vnd.oasis.opendocument.text", (b"PK\x03\x04",), False),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", (b"PK\x03\x04",), False),
}


class Refused(enum.Enum):
    MISSING = "missing"
    TYPE = "type"
    SIZE = "size"


def _kind(name: str) -> tuple[str, tuple[bytes, ...], bool] | None:
    return _TYPES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None


def safe_relative(rel: str) -> bool:
    """A path of a kind we serve, with no empty, hidden or ``..`` part. Attacker-
    controlled input (a request's path, a backup's manifest)."""
    parts = rel.split("/")
    return _kind(rel) is not None and not any(not p or p.startswith(".") for p in parts)


class ArchiveFiles:
    def __init__(self, root: Path) -> None:
        self.root = root  # data_dir / "files"

    def add(self, source: Path, rel: str, *, copy: bool = True) -> str | Refused:
        """Copy ``source`` to ``rel`` below the root (kept if already there; only
        checked without ``copy``); ``rel`` is a checked relative path
        (forum.ning_import)."""
        kind = _kind(rel)
        if kind is None:
            return Refused.TYPE
        try:
            with source.open("rb") as f:
                head = f.read(16)
                size = os.fstat(f.fileno()).st_size
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return Refused.MISSING
        if size > MAX_FILE:
            return Refused.SIZE
        if not head.startswith(kind[1]) or (
            rel.lower().endswith(".webp") and head[8:12] != b"WEBP"
        ):
            return Refused.TYPE
        target = self.root / rel
        if copy and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.part")
            shutil.copyfile(source, partial)
            partial.replace(target)  # never a half-copied file under its name
        return rel

    def find(self, rel: str) -> tuple[Path, str, bool] | None:
        """(file, content type, shown inline) of a served path, or None. ``rel`` is
        attacker-controlled: only paths of known kinds inside the root are answered."""
        kind = _kind(rel)
        if kind is None or not safe_relative(rel):
            return None
        path = self.root.joinpath(*rel.split("/"))
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root.resolve()) or not resolved.is_file():
            return None
        return resolved, kind[0], kind[2]

    def stored(self) -> list[str]:
        """Every file kept (relative paths), for backups."""
        if not self.root.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*"))
        return sorted(rel for rel in found if safe_relative(rel) and self.find(rel))
