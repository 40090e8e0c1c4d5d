"""Which engine holds the forum: SQLite (the embedded default, a file in the data
directory) or PostgreSQL (for several hosts; docs/postgresql.md). ``Engine`` is what
the store's parts are written against; ``engine_for`` picks one from the settings' database URL.

PostgreSQL's drivers are an optional dependency (``pip install fedi-forum[postgresql]``),
imported only when a ``postgresql://`` URL asks for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fedi_forum.config import Settings
from fedi_forum.errors import InvalidInput
from fedi_forum.store.conn import Dialect, T, WriteFn
from fedi_forum.store.group_commit import GroupCommit


class Engine(Protocol):
    @property
    def writer(self) -> GroupCommit: ...

    @property
    def dialect(self) -> Dialect: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> list[Any]: ...

    async def fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> Any: ...

    async def write(self, fn: WriteFn[T]) -> T: ...

    @property
    def writer_alive(self) -> bool: ...

    async def schema_version(self) -> int: ...

    async def on_new_deliveries(self, wake: Callable[[], None]) -> None: ...

    async def watch_discussions(self, watcher: Watcher) -> bool: ...

    def take_turns(self) -> None: ...


class Watcher(Protocol):
    """Told of every committed change to a ``discussions`` row (store/row_cache.py)."""

    def drop(self, key: str | None) -> None: ...

    def stop(self) -> None: ...

    def validate_with(self, version: Callable[[], object]) -> None: ...


class EngineBase:
    """What both engines build on ``fetch_all`` and their writer."""

    writer: GroupCommit

    async def fetch_all(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> list[Any]:
        raise NotImplementedError

    async def fetch_one(
        self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
    ) -> Any:
        rows = await self.fetch_all(sql, params, offload=offload)
        return rows[0] if rows else None

    async def write(self, fn: WriteFn[T]) -> T:
        """Run ``fn`` in the next group commit; its result once committed."""
        return await self.writer.run(fn)

    @property
    def writer_alive(self) -> bool:
        return self.writer.alive

    async def on_new_deliveries(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when another process queues deliveries. SQLite: nothing to
        subscribe to; this process wakes its worker itself, the others poll (1 s)."""
        del wake

    def take_turns(self) -> None:
        """Write batches of processes serving pages wait for each other's (PostgreSQL;
        SQLite's writers already do, for the file lock)."""

    async def watch_discussions(self, watcher: Watcher) -> bool:
        """Tell ``watcher`` of every change to a discussion row, by any process; False
        when this engine cannot."""
        del watcher
        return False

    async def schema_version(self) -> int:
        """The version the database is at (one indexed read, no lock)."""
        row = await self.fetch_one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0]) if row is not None else 0


def engine_for(settings: Settings) -> Engine:
    """The engine of ``settings.database_url`` (empty: the SQLite file in the data
    directory). Not opened."""
    from fedi_forum.store.db import Database

    if not settings.on_postgresql:
        return Database(settings.db_path)
    try:
        from fedi_forum.store.postgres import PostgresDatabase
    except ImportError as exc:  # the optional drivers are not installed
        raise InvalidInput(
            f"PostgreSQL drivers missing: {exc}",
            public_message="install fedi-forum[postgresql] to use a PostgreSQL database",
        ) from exc
    return PostgresDatabase(settings.database_url)
