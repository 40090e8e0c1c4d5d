"""Backup and restore of one instance: a consistent snapshot of the database taken with
SQLite's online backup API while the server runs (never a file copy of a live WAL
database: the copy could miss committed pages still in the WAL), the private keys, the
files an import brought (data/files, docs/ning.md), and a manifest (format, version,
schema version, base URL, row counts) in one ``.tar.gz``.

Restore writes only into an empty data directory and an empty keys directory, takes only
the members it knows by name (an archive is input: no path in it is trusted), checks the
restored row counts against the manifest, and keeps every file 0600 in 0700 directories.
"""

from __future__ import annotations

import io
import re
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from fedi_forum.store.archive_files import ArchiveFiles, safe_relative
from fedi_forum.store.db import schema_version
from fedi_forum.store.private import private_dir
from fedi_forum.store.search import register_sqlite_functions

FORMAT = "fedi-forum-backup/1"
DB_NAME = "fedi-forum.sqlite3"
COUNTED = ("discussions", "notes", "follows", "actors", "deliveries", "reports", "staff")
FILES = "files"  # what an import brought, below the data directory (docs/ning.md)
KEY_FILE = re.compile(r"[a-z0-9_-]{1,64}\.(pem|secret)")


class BackupError(Exception):
    """What is wrong with a backup or a restore target, in words for the operator."""


@dataclass(frozen=True, slots=True)
class Manifest:
    base_url: str
    schema_version: int
    counts: dict[str, int]
    keys: list[str]
    created_at: str
    software_version: str
    files: list[str] = field(default_factory=list)  # below data/files

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "base_url": self.base_url,
            "schema_version": self.schema_version,
            "counts": self.counts,
            "keys": self.keys,
            "created_at": self.created_at,
            "software_version": self.software_version,
            "files": self.files,
        }
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in COUNTED}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def backup(
    db_path: Path, keys_dir: Path, out: Path, software_version: str, base_url: str | None
) -> Manifest:
    """Write the archive ``out`` (``.tar.gz``) from a running or stopped instance. The
    base URL is the one the database recorded; ``base_url`` only stands in where none
    was recorded (a database never served by `fedi-forum serve`)."""
    if not db_path.exists():
        raise BackupError(f"no database at {db_path}")
    if out.exists():
        raise BackupError(f"{out} exists; choose a new file")
    with tempfile.TemporaryDirectory(prefix="fedi-forum-backup-") as tmp:
        snapshot = Path(tmp) / DB_NAME
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)  # pages copied under SQLite's own locking: consistent
        finally:
            source.close()
        try:
            target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            row = target.execute("SELECT value FROM meta WHERE key = 'base_url'").fetchone()
            counts = _counts(target)
            version = schema_version(target)
        finally:
            target.close()
        keys = (
            sorted(p.name for p in keys_dir.iterdir() if KEY_FILE.fullmatch(p.name))
            if keys_dir.is_dir()
            else []
        )
        files = ArchiveFiles(db_path.parent / FILES).stored()
        recorded = str(row[0]) if row else base_url
        if not recorded:
            raise BackupError("the database records no base URL: pass --base-url")
        manifest = Manifest(
            base_url=recorded,
            schema_version=version,
            counts=counts,
            keys=keys,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            software_version=software_version,
            files=files,
        )
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            _add(tar, "manifest.json", manifest.to_json())
            _add(tar, f"data/{DB_NAME}", snapshot.read_bytes())
            for name in keys:
                _add(tar, f"keys/{name}", (keys_dir / name).read_bytes())
            for rel in files:
                _add(tar, f"{FILES}/{rel}", (db_path.parent / FILES / rel).read_bytes())
        partial.chmod(0o600)
        partial.rename(out)  # a crash mid-write never leaves a file that looks complete
    return manifest


def read_manifest(archive: Path) -> Manifest:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            data: dict[str, Any] = orjson.loads(member.read() if member else b"")
    except (OSError, KeyError, tarfile.TarError, orjson.JSONDecodeError) as exc:
        raise BackupError(f"{archive} is not a fedi-forum backup ({exc})") from exc
    if data.get("format") != FORMAT:
        raise BackupError(f"{archive}: unknown backup format {data.get('format')!r}")
    return Manifest(
        base_url=str(data["base_url"]),
        schema_version=int(data["schema_version"]),
        counts={str(k): int(v) for k, v in data["counts"].items()},
        keys=[str(k) for k in data["keys"]],
        created_at=str(data["created_at"]),
        software_version=str(data["software_version"]),
        files=[str(f) for f in data.get("files", [])],  # backups before the Ning import
    )


def restore(archive: Path, data_dir: Path, keys_dir: Path) -> Manifest:
    """Unpack ``archive`` into empty directories; returns its manifest."""
    manifest = read_manifest(archive)
    target_db = data_dir / DB_NAME
    if target_db.exists() or (
        keys_dir.is_dir() and any(KEY_FILE.fullmatch(p.name) for p in keys_dir.iterdir())
    ):
        raise BackupError(
            f"{data_dir} or {keys_dir} already holds an instance; restore only into empty ones"
        )
    for name in manifest.keys:
        if not KEY_FILE.fullmatch(name):
            raise BackupError(f"unexpected key file name {name!r} in the manifest")
    for rel in manifest.files:
        if not safe_relative(rel):
            raise BackupError(f"unexpected file name {rel!r} in the manifest")
    private_dir(data_dir)
    private_dir(keys_dir)
    with tarfile.open(archive, "r:gz") as tar:
        wanted = (
            {f"data/{DB_NAME}": target_db}
            | {f"keys/{name}": keys_dir / name for name in manifest.keys}
            | {f"{FILES}/{rel}": data_dir / FILES / rel for rel in manifest.files}
        )
        for member_name, path in wanted.items():
            member = tar.extractfile(member_name)
            if member is None:
                raise BackupError(f"{archive} lacks {member_name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(member.read())
            partial.chmod(0o600)
            partial.rename(path)
    conn = sqlite3.connect(target_db)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the restored database fails SQLite's integrity check")
        counts = _counts(conn)
    finally:
        conn.close()
    if counts != manifest.counts:
        raise BackupError(f"restored rows {counts} differ from the manifest {manifest.counts}")
    return manifest


def rewrite_base_url(db_path: Path, old: str, new: str) -> int:
    """Move a restored instance to another base URL (``restore --rewrite-ids``): every
    text value that holds one of our URLs (``old`` + "/…", or ``old`` itself) gets
    ``new`` instead — discussion and note ids, outbox activities, queued deliveries, the
    recorded base URL — in one transaction. Returns the values changed.

    What this cannot move (README "Moving to another address"): other servers keep the
    old ids; their followers follow the old actors and must follow again, and links to
    the old address work only while the old host redirects to the new one."""
    old, new = old.rstrip("/"), new.rstrip("/")
    conn = sqlite3.connect(db_path, isolation_level=None)
    register_sqlite_functions(conn)  # the search index's triggers re-read changed notes
    changed = 0
    try:
        conn.execute("BEGIN IMMEDIATE")
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'search_index%'"  # derived from notes, by the triggers
            )
        ]
        for table in tables:
            for column in conn.execute(f'PRAGMA table_info("{table}")'):
                name, kind = column[1], str(column[2]).upper()
                if kind != "TEXT":
                    continue
                # table and column names come from the schema itself, not from input
                changed += conn.execute(
                    f'UPDATE "{table}" SET "{name}" = CASE WHEN "{name}" = :old THEN :new '
                    f'ELSE replace("{name}", :old_slash, :new_slash) END '
                    f'WHERE "{name}" = :old OR instr("{name}", :old_slash) > 0',
                    {"old": old, "new": new, "old_slash": old + "/", "new_slash": new + "/"},
                ).rowcount
        conn.execute(  # recorded even where the server had not recorded one yet
            "INSERT INTO meta (key, value) VALUES ('base_url', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (new,),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return changed
