"""The SQLite connection layer: one group-commit writer, one read connection (and the
checkpointer and the copy before migrating, which need the same connection rules: one
module, over 400 lines, so that every rule about opening the file is in one place).

Why a writer task: a transaction per request caps at about 2.5k writes/s on this kind of
machine, group commit reaches about 10k/s (docs/rules.md §14). Every write is a small
synchronous function ``fn(conn) -> result``; the writer runs everything queued since the
last commit inside ONE transaction and ONE thread hop. Optimistic: only if a function
raises is the batch rolled back and run again with a SAVEPOINT around each, so a
failing function rolls back only itself. The caller's await
returns only after COMMIT, so "202 after durably stored" holds.

Why the writer owns a plain ``sqlite3`` connection on a one-thread executor instead of
an aiosqlite connection: aiosqlite runs every call on its own thread but offers no
public way to run a *batch* of statements in one hop (only its private ``_execute``).
This is the same mechanism with a public API. Reads use aiosqlite, one hop per query.

Several processes (``fedi-forum serve`` and a CLI ``discussion create``) may share the
file: WAL lets readers run beside the writer, and ``busy_timeout`` makes a second
writer wait instead of failing.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from fedi_forum.store.conn import Dialect, SqliteConn, WriteFn
from fedi_forum.store.engine import EngineBase, Watcher
from fedi_forum.store.group_commit import GroupCommit, isolated
from fedi_forum.store.migrations import MIGRATIONS
from fedi_forum.store.private import private_dir, private_file
from fedi_forum.store.search import register_sqlite_functions
from fedi_forum.tasks import cancelled

log = logging.getLogger(__name__)


CHECKPOINT_SECONDS = 1.0
WAL_SIZE_LIMIT = 64 * 2**20  # bytes of WAL file kept once it can start over (Writer._open)
QUICK_BUSY_TIMEOUT_MS = 1_000  # a read on the event loop thread waits at most this
BUSY_TIMEOUT_MS = 10_000


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode is durable across application crashes (only a power loss can
    # lose the last commits); FULL costs ~3x per commit and batching hides most of it.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer fedi-forum than this one."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The version the database is at (0 for a new one), read without a write lock."""
    try:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:  # no such table: nothing applied yet
        return 0
    return int(row[0])


KEEP_MIGRATION_COPIES = 3


def copy_before_migrating(conn: sqlite3.Connection, path: Path) -> Path | None:
    """Before migrations change a database that holds data, copy it (SQLite's online
    backup API: consistent even with other processes writing) to
    ``backups/before-vNEW-from-vOLD-TIME.sqlite3`` beside it, 0600 in a 0700 folder, and
    keep the newest ``KEEP_MIGRATION_COPIES``. Returns the copy, or None when nothing
    is to be migrated. The keys are not copied: migrations never touch them."""
    current, latest = schema_version(conn), MIGRATIONS[-1][0]
    if current == 0 or current >= latest:
        return None  # a new database, or nothing to do (too new is refused later)
    folder = private_dir(path.parent / "backups")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # sorts by time
    copy = folder / f"before-v{latest}-from-v{current}-{stamp}.sqlite3"
    target = sqlite3.connect(private_file(copy))
    try:
        conn.backup(target)
    finally:
        target.close()
    log.warning(
        "copied the database to %s before migrating it from version %d to %d", copy, current, latest
    )
    for old in sorted(folder.glob("before-v*.sqlite3"))[:-KEEP_MIGRATION_COPIES]:
        old.unlink()
    return copy


def apply_migrations(conn: sqlite3.Connection, upto: int | None = None) -> int:
    """Bring the schema to ``upto`` (default: latest). Returns the resulting version."""
    register_sqlite_functions(conn)  # migration 13 indexes the notes with it
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    known = MIGRATIONS[-1][0]
    if current > known:
        # A newer fedi-forum wrote this database: running older code on it could
        # misread or damage what the newer one stored. Refuse, clearly.
        raise SchemaTooNew(
            f"the database is at schema version {current}, but this fedi-forum knows "
            f"versions up to {known}: run the newer fedi-forum that wrote it (or restore a "
            "backup made before the upgrade)"
        )
    for version, sql in MIGRATIONS:
        if version <= current or (upto is not None and version > upto):
            continue
        # executescript commits first; run the whole migration as one transaction, and
        # leave nothing half-applied if a statement fails.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\n"
                f"INSERT INTO schema_migrations VALUES ({version}, "
                "strftime('%Y-%m-%dT%H:%M:%SZ'));\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("applied migration %d", version)
        current = version
    return int(current)


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """Take the write lock, polling every millisecond or so while another process (a
    second uvicorn worker, the CLI) holds it. SQLite's own busy handler sleeps longer
    and longer (up to 100 ms a try), which gave the inbox a 1-2 s p99 with two workers;
    the other writer's group commit takes milliseconds."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.0005
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.002)


class Writer(GroupCommit):
    """SQLite's group commit: one connection, and a file lock our processes take turns
    through."""

    def __init__(self, path: Path) -> None:
        super().__init__("sqlite-writer")
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._wrapped: SqliteConn | None = None  # what write functions are given
        self._turn: int | None = None  # fd of the writers' turn lock (beside the database)
        # told after each COMMIT, before its writes return (store/row_cache.py)
        self.watchers: list[Watcher] = []

    async def start(self) -> None:
        self._conn = await self._in_thread(self._open)
        self._wrapped = SqliteConn(self._conn)
        lock_path = self._path.with_name(self._path.name + "-writer.lock")
        self._turn = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._start_task()

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _configure(conn)
        copy_before_migrating(conn, self._path)
        apply_migrations(conn)
        conn.execute("PRAGMA busy_timeout = 0")  # _begin_immediate polls instead
        # Checkpoints (which fsync the database file) run on their own connection and
        # thread (Checkpointer): after a COMMIT they made every caller of that batch wait
        # for the fsync (the inbox's p99 of 140-160 ms, even at 8 connections).
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # Under sustained writes from two processes the checkpoints never catch up with
        # the end of the WAL, so SQLite cannot start it over and it keeps growing: 1.2 GB
        # in 30 s of bench/inbox.py's load (bench/README.md, "The WAL under load"). Once
        # it can start over, it reuses the file but never shrinks it; this cuts it back.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        return conn

    async def stop(self) -> None:
        """Finish everything queued, then close."""
        await self._drain()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        if self._turn is not None:
            os.close(self._turn)
            self._turn = None
        self._executor.shutdown(wait=True)

    def _commit(self, fns: Sequence[WriteFn[Any]]) -> list[tuple[bool, Any]]:
        """One transaction for the batch. Optimistic: the writes run back to back; only
        if one raises is the batch rolled back and run again with a SAVEPOINT around each
        write, so a failing write undoes only itself. (Write functions are functions of
        the database state, so running one again after a rollback is the same as the
        first time.) Saves two statements per write on the common path."""
        conn, wrapped = self._conn, self._wrapped
        assert conn is not None
        assert wrapped is not None
        assert self._turn is not None
        # Our processes (uvicorn workers, the CLI) take turns through a blocking file
        # lock: the kernel wakes the waiter the moment the holder lets go. Through
        # SQLite's lock alone, the holder (its queue never empty) took the lock again
        # before a polling waiter looked: one worker's inbox waited up to a second.
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        try:
            _begin_immediate(conn)  # still needed: other programs may write the file
            try:
                try:
                    outcomes: list[tuple[bool, Any]] = [(True, fn(wrapped)) for fn in fns]
                except Exception:
                    conn.execute("ROLLBACK")
                    _begin_immediate(conn)
                    outcomes = [isolated(wrapped, fn) for fn in fns]
                conn.execute("COMMIT")
                for watcher in self.watchers:
                    watcher.drop(None)  # which rows changed is not known: all may have
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)
        return outcomes


class Checkpointer:
    """Copies the WAL back into the database file every ``interval`` seconds (PASSIVE:
    never waits for, nor blocks, readers or the writer), on its own connection and
    thread, so no write waits for a checkpoint's fsync."""

    def __init__(self, path: Path, interval: float = CHECKPOINT_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-ckpt")
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._open)
        self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {QUICK_BUSY_TIMEOUT_MS}")
        return conn

    def _checkpoint(self) -> None:
        assert self._conn is not None
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.OperationalError as exc:  # another process is checkpointing
            log.debug("checkpoint skipped: %s", exc)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            await loop.run_in_executor(self._executor, self._checkpoint)

    async def stop(self) -> None:
        await cancelled(self._task)
        self._task = None
        if self._conn is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._checkpoint)  # leave it small
            await loop.run_in_executor(self._executor, self._conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)


class Database(EngineBase):
    """SQLite: the writer, plus two read-only connections on the same file.

    Reads are indexed point lookups and keyset ranges (tens of microseconds in SQLite):
    they run on the event loop's own thread, on a plain ``sqlite3`` connection. Handing
    each to aiosqlite's thread cost more than the query (measured on the actor/WebFinger
    /note GETs: the hop and the GIL ping-pong kept the loop 35% idle at 3,100 requests
    per second). Queries that scan (instance statistics, admin reports) pass
    ``offload=True`` and go to the aiosqlite connection's thread, so they never block
    the loop. WAL readers do not wait for the writer; a short busy timeout bounds the
    rare wait (checkpoint) on the loop thread.
    """

    dialect = Dialect.SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Writer = Writer(path)
        self.checkpointer = Checkpointer(path)
        self._reader: aiosqlite.Connection | None = None
        self._quick: sqlite3.Connection | None = None

    async def open(self) -> None:
        private_file(private_dir(self.path.parent) / self.path.name)
        await self.writer.start()  # creates the file and migrates before anyone reads
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        self._reader.row_factory = sqlite3.Row
        await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await self._reader.execute("PRAGMA query_only = 1")
        quick = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        quick.row_factory = sqlite3.Row
        quick.execute(f"PRAGMA busy_timeout = {QUICK_BUSY_TIMEOUT_MS}")
        quick.execute("PRAGMA query_only = 1")
        self._quick = quick
        await self.checkpointer.start()

    async def close(self) -> None:
        await self.writer.stop()  # the last writes first, then the last checkpoint
        await self.checkpointer.stop()
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    async def watch_discussions(self, watcher: Watcher) -> bool:
        """SQLite notifies nobody: this process's writer tells ``watcher`` after each
        COMMIT, and ``watcher`` asks the loop thread's read connection, at most once a
        millisecond, whether another connection committed since (store/row_cache.py)."""
        self.writer.watchers.append(watcher)
        watcher.validate_with(self._data_version)
        return True

    def _data_version(self) -> int:
        # changes when any other connection commits; this one is query_only, so that is
        # every commit to the file, by this process's writer or another process's
        if self._quick is None:
            raise RuntimeError("database is not open")
        return int(self._quick.execute("PRAGMA data_version").fetchone()[0])

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> list[sqlite3.Row]:
        """One query: on this thread, or (``offload``) in one hop to the reader thread."""
        if self._quick is None or self._reader is None:
            raise RuntimeError("database is not open")
        if offload:
            return list(await self._reader.execute_fetchall(sql, params))
        return self._quick.execute(sql, params).fetchall()
