"""The PostgreSQL engine: the same API as ``db.Database`` (reads, the group-commit
writer, the schema version), for a forum that runs on several hosts (docs/postgresql.md).

Two drivers, each where it measured best (bench/drivers.py, same run, 8 callers, median
of 5): reads go through an asyncpg pool (4,178 point reads/s, against 2,224 for psycopg's
async driver and 1,555 for psycopg on a thread), and writes run the store's own write
functions — synchronous ``fn(conn)``, the same code as on SQLite — on a psycopg
connection in the writer's thread (765 six-statement transactions/s, 0.78x asyncpg,
which cannot run synchronous code; SQLAlchemy Core over asyncpg: 421). One code path for
both engines was worth the 22%; group commit wins it back by sharing each COMMIT.

What PostgreSQL changes in the writer: there is no file lock to take turns on, several
processes on several hosts write at once, and a batch may meet another process's batch
in a deadlock or a serialisation failure; the batch is then rolled back and run again
(its functions are functions of the database state, so a rerun is a first run).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psycopg
import psycopg.errors
from psycopg.rows import RowMaker

from fedi_forum.errors import DatabaseBusy, DatabaseUnavailable
from fedi_forum.store.conn import ConstraintViolation, Cursor, Dialect, WriteFn, placeholders
from fedi_forum.store.db import SchemaTooNew
from fedi_forum.store.engine import EngineBase, Watcher
from fedi_forum.store.group_commit import GroupCommit, isolated
from fedi_forum.store.migrations import MIGRATIONS
from fedi_forum.store.pg_schema import POSTGRES_MIGRATIONS

log = logging.getLogger(__name__)

READ_POOL = 8  # connections for reads per process
RERUNS = 5  # a write that keeps meeting others' locks fails (503) after this many runs
# A row lock waited for longer than this is taken for a deadlock (PostgreSQL's own
# detection waits deadlock_timeout, 1 s by default, which only a superuser may lower).
LOCK_TIMEOUT = "100ms"
_CONTENDED = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
)
MIGRATION_LOCK = 0x66656469  # pg_advisory_lock key: one process migrates at a time
TURN_LOCK = 0x66667475  # pg_advisory_xact_lock key: web processes' write batches take turns
# Waits for the turn without lock_timeout (one lock: no deadlock to escape), then puts
# lock_timeout back for the rows. One round trip; the select list runs left to right.
TAKE_TURN = (
    "SELECT set_config('lock_timeout', '0', true), pg_advisory_xact_lock(%s), "
    "set_config('lock_timeout', %s, true)"
)


@functools.lru_cache(maxsize=2048)
def _psycopg_sql(sql: str) -> str:
    return placeholders(sql, "%s")


@functools.lru_cache(maxsize=2048)
def _asyncpg_sql(sql: str) -> str:
    return placeholders(sql, "$")


def _without_password(url: str) -> str:
    """The URL for messages and logs: a password never leaves in an error."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    where = _without_password(url)
    return DatabaseUnavailable(
        f"{where}: {exc}", public_message=f"cannot reach the database at {where}"
    )


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    # Booleans are stored as integers 0/1 (as on SQLite); the drivers would send them
    # as PostgreSQL booleans, which BIGINT columns refuse.
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


class PgRow(tuple[Any, ...]):
    """A row readable by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int]
    _names: tuple[str, ...]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    index = {n: i for i, n in reversed(list(enumerate(names)))}  # first of a repeated name
    return type("Row", (PgRow,), {"__slots__": (), "_index": index, "_names": names})


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[PgRow]:
    names = tuple(c.name for c in cursor.description or ())
    cls = _row_class(names)
    return lambda values: cls(values)


DELIVERIES_CHANNEL = "fedi_forum_deliveries"
# NOTIFY'd by a trigger on every change to a discussions row, with its slug (migration 17)
DISCUSSIONS_CHANNEL = "ff_discussions"


class PgConn:
    """``Conn`` over a psycopg connection inside the writer's transaction. Notes whether
    a statement wrote the delivery queue, so the batch can wake the workers of every host
    (``NOTIFY``, sent by PostgreSQL at COMMIT)."""

    __slots__ = ("raw", "wrote_deliveries")

    def __init__(self, raw: psycopg.Connection[PgRow]) -> None:
        self.raw = raw
        self.wrote_deliveries = False

    @property
    def dialect(self) -> Dialect:
        return Dialect.POSTGRESQL

    def _note(self, sql: str) -> None:
        if not self.wrote_deliveries and "deliveries" in sql and not sql.startswith("SELECT"):
            self.wrote_deliveries = True  # an INSERT or UPDATE of the queue (or near it)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._note(sql)
        try:
            return self.raw.execute(_psycopg_sql(sql), _params(params))
        except psycopg.errors.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Cursor:
        self._note(sql)
        cur = self.raw.cursor()
        try:
            cur.executemany(_psycopg_sql(sql), [_params(p) for p in seq])
        except psycopg.errors.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc
        return cur


def _connect(url: str) -> psycopg.Connection[PgRow]:
    return psycopg.connect(
        url, row_factory=_row_factory, autocommit=False, options=f"-c lock_timeout={LOCK_TIMEOUT}"
    )


def apply_pg_migrations(url: str, upto: int | None = None) -> int:
    """Bring the schema to the latest version (or ``upto``: tests start from every
    earlier one), one process at a time (an advisory lock: several hosts may start
    together). Returns the version."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            current = int(row.fetchone()[0])  # type: ignore[index]
            known = POSTGRES_MIGRATIONS[-1][0]
            if current > known:
                raise SchemaTooNew(
                    f"the database is at schema version {current}, but this fedi-forum "
                    f"knows versions up to {known}: run the newer fedi-forum that wrote it"
                )
            for version, sql in POSTGRES_MIGRATIONS:
                if version <= current or (upto is not None and version > upto):
                    continue
                with conn.transaction():
                    conn.execute(sql)  # ours, constant
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES "
                        "(%s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                        (version,),
                    )
                log.info("applied migration %d (postgresql)", version)
                current = version
            return current
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def schema_version_at(url: str) -> int:
    """The version the database at ``url`` is at (0: empty), changing nothing."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not found or not found[0]:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0


class PgWriter(GroupCommit):
    """Group commit on one psycopg connection, in one thread."""

    def __init__(self, url: str) -> None:
        super().__init__("pg-writer")
        self._url = url
        self._conn: psycopg.Connection[PgRow] | None = None
        # Told of changes to discussion rows during this process's own COMMITs (the
        # connection listens: PostgreSQL hands a session its own notifications before
        # the COMMIT returns), so a write is never followed by a read of the old row.
        self.watchers: list[Watcher] = []
        self.take_turns = False  # see PostgresDatabase.take_turns

    async def start(self) -> None:
        self._conn = await self._in_thread(functools.partial(self._open))
        self._start_task()

    def _open(self) -> psycopg.Connection[PgRow]:
        conn = _connect(self._url)
        conn.add_notify_handler(self._notified)
        conn.execute(f"LISTEN {DISCUSSIONS_CHANNEL}")
        conn.commit()
        return conn

    def _notified(self, notify: psycopg.Notify) -> None:
        if notify.channel == DISCUSSIONS_CHANNEL:
            for watcher in self.watchers:
                watcher.drop(notify.payload)

    async def stop(self) -> None:
        await self._drain()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._in_thread(conn.close)
        self._executor.shutdown(wait=True)

    def _connection(self) -> psycopg.Connection[PgRow]:
        """The writer's connection, opened again if the last one was lost (the server
        restarted, a failover, an administrator ended it)."""
        raw = self._conn
        if raw is not None and not raw.closed and not raw.broken:
            return raw
        if raw is not None:
            with contextlib.suppress(psycopg.Error):
                raw.close()
        try:
            self._conn = self._open()
        except psycopg.OperationalError as exc:
            self._conn = None
            raise _unavailable(self._url, exc) from exc
        log.warning("reconnected the writer to %s", _without_password(self._url))
        return self._conn

    def _commit(self, fns: Sequence[WriteFn[Any]]) -> list[tuple[bool, Any]]:
        raw = self._connection()
        try:
            return self._run_batch(raw, fns)
        except psycopg.Error as exc:
            if not (raw.closed or raw.broken):
                raise
            # Lost mid-batch: whether its COMMIT arrived is unknown, so the batch is not
            # run again (write functions need not be idempotent); its callers get 503
            # and the next batch reconnects.
            raise _unavailable(self._url, exc) from exc

    def _run_batch(
        self, raw: psycopg.Connection[PgRow], fns: Sequence[WriteFn[Any]]
    ) -> list[tuple[bool, Any]]:
        """The batch in one transaction; when it meets another process's batch (a
        deadlock, or a row lock held past LOCK_TIMEOUT), each write on its own.

        Two processes' batches take the rows of the same discussions and actors in
        different orders, so they deadlock often, and PostgreSQL detects a deadlock only
        after deadlock_timeout (1 s): with two web processes the inbox stored 62 replies/s
        where one stored 238 (bench/engines.py). A lock wait longer than LOCK_TIMEOUT is
        treated as one, and the writes that met it run one transaction each, holding
        few locks for little time, so they make progress whatever the others do."""
        try:
            return self._attempt(raw, fns)
        except _CONTENDED:
            raw.rollback()
        log.info("group commit met a concurrent one; its %d writes go one by one", len(fns))
        outcomes: list[tuple[bool, Any]] = []
        for fn in fns:
            for attempt in range(1, RERUNS + 1):
                try:
                    outcomes.extend(self._attempt(raw, [fn]))
                    break
                except _CONTENDED as exc:
                    raw.rollback()
                    if attempt == RERUNS:
                        outcomes.append((False, DatabaseBusy(str(exc))))
                    else:
                        time.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311 - jitter
        return outcomes

    def _attempt(
        self, raw: psycopg.Connection[PgRow], fns: Sequence[WriteFn[Any]]
    ) -> list[tuple[bool, Any]]:
        conn = PgConn(raw)
        try:
            if self.take_turns:
                raw.execute(TAKE_TURN, (TURN_LOCK, LOCK_TIMEOUT))
            try:
                outcomes: list[tuple[bool, Any]] = [(True, fn(conn)) for fn in fns]
            except _CONTENDED:
                raise
            except Exception:
                raw.rollback()
                if self.take_turns:  # the rollback gave the turn back
                    raw.execute(TAKE_TURN, (TURN_LOCK, LOCK_TIMEOUT))
                outcomes = [isolated(conn, fn) for fn in fns]
            if conn.wrote_deliveries:  # delivered with the COMMIT, once per batch
                raw.execute(f"NOTIFY {DELIVERIES_CHANNEL}")
            raw.commit()
            return outcomes
        except _CONTENDED:
            raise
        except BaseException:
            if not raw.broken:
                raw.rollback()
            raise


class PostgresDatabase(EngineBase):
    """Reads on an asyncpg pool; writes through ``PgWriter``; the schema migrated (under
    an advisory lock) before either opens."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self.writer: PgWriter = PgWriter(url)
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._on_lost: list[Callable[[Any], None]] = []

    async def open(self) -> None:
        try:
            await asyncio.to_thread(apply_pg_migrations, self.url)
        except psycopg.OperationalError as exc:  # down, refused, wrong name or password
            raise _unavailable(self.url, exc) from exc
        await self.writer.start()
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=READ_POOL)

    async def on_new_deliveries(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever any host commits a change to the delivery queue (LISTEN
        on a connection of its own), so workers on every host start at once instead of
        at their next poll."""
        listener = await self._listening()
        await listener.add_listener(DELIVERIES_CHANNEL, lambda *_: wake())

    def take_turns(self) -> None:
        """This process's write batches wait for every other turn-taking process's to
        commit (a transaction-scoped advisory lock, held to the COMMIT), as SQLite's
        writers do for its file lock. Web processes write the same discussions' and
        actors' rows in different orders: side by side, their batches met in row locks
        and went one by one. Measured (bench/engines.py, 2 web processes, this machine,
        PostgreSQL on the same 2 cores, one run of 3): 285 -> 507 stored replies/s; one
        process 360 -> 403. Delivery workers do not take turns (their writes are the
        rows they leased; with them taking turns 2 workers sent 735/s, not 832)."""
        self.writer.take_turns = True

    async def watch_discussions(self, watcher: Watcher) -> bool:
        """Every change to a discussion row: this process's own during its COMMIT (the
        writer's connection), every host's as its notification arrives (the listening
        connection). When that connection is lost, ``watcher.stop()``."""

        def heard(_conn: object, _pid: int, _channel: str, slug: str) -> None:
            watcher.drop(slug)

        def lost(_conn: object) -> None:
            log.warning("lost the connection that hears changes: cached reads are off")
            watcher.stop()

        listener = await self._listening()
        listener.add_termination_listener(lost)
        self._on_lost.append(lost)
        await listener.add_listener(DISCUSSIONS_CHANNEL, heard)
        self.writer.watchers.append(watcher)
        return True

    async def _listening(self) -> asyncpg.Connection:
        if self._listener is None:
            self._listener = await asyncpg.connect(self.url)
        return self._listener

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            for lost in self._on_lost:  # closed on purpose: nothing was lost
                listener.remove_termination_listener(lost)
            await listener.close()
        await self.writer.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> list[Any]:
        """One query on a pooled connection (``offload`` changes nothing here: every
        read already leaves the event loop's thread to the server)."""
        del offload
        if self._pool is None:
            raise RuntimeError("database is not open")
        try:
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(_asyncpg_sql(sql), *_params(params)))
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError) as exc:
            raise _unavailable(self.url, exc) from exc  # a 503, not a 500


def latest_versions() -> tuple[int, int]:
    """(SQLite's latest migration, PostgreSQL's): equal by rule."""
    return MIGRATIONS[-1][0], POSTGRES_MIGRATIONS[-1][0]
