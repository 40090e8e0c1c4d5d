"""Process-local copies of discussion rows for pages and documents, kept only while the
engine tells this process of every change to them (docs/postgresql.md, "Cached reads").

On PostgreSQL every change to a ``discussions`` row notifies (a trigger, ``NOTIFY
ff_discussions, slug``): the writer's own connection listens, so this process's writes
drop their rows during their COMMIT, before the write returns (read-your-writes), and a
connection of its own hears the other hosts' writes within the notification's delivery.
A GET of a page, an outbox page or a group actor then needs no database round trip at
all.

SQLite sends no notifications. This process's writer forgets every copy after each of
its COMMITs, before the write returns (read-your-writes). Other processes' commits are
found by asking the loop thread's read connection ``PRAGMA data_version``, whose answer
changes whenever any other connection has committed since it last asked; every copy is
forgotten when it changed. It is asked at most once a millisecond (``VERSION_EVERY``):
it starts a read transaction, whose shared-memory locks made it 8.6% of a serving
process's time when asked on every GET (py-spy, actor/WebFinger/note GETs at c32). So
another process's change is shown within a millisecond of its commit, as a PostgreSQL
notification is heard within its delivery.

A read that starts before a change and finishes after it must not put back the old row:
every drop advances a generation, and a row read under an older one is not kept. The
writer's thread drops too, hence the lock. Losing the listening connection empties the
cache and turns it off (reads go to the database again) until the process restarts.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")
LIMIT = 4096  # discussions kept; an attacker asking for random slugs only churns it
VERSION_EVERY = 0.001  # seconds between two questions to ``validate_with``'s version


class RowCache(Generic[V]):
    def __init__(self, limit: int = LIMIT) -> None:
        self._rows: OrderedDict[str, V | None] = OrderedDict()
        self._limit = limit
        self._generation = 0
        self._lock = threading.Lock()
        self._version: Callable[[], object] | None = None
        self._seen: object = None
        self._next_ask = 0.0
        self.enabled = False

    def validate_with(self, version: Callable[[], object]) -> None:
        """Before a ``get``, at most every ``VERSION_EVERY`` seconds, ask ``version()``
        (synchronous, on the thread that reads) and forget everything when its answer
        changed (SQLite: data_version)."""
        self._version = version
        self._seen = version()
        self._next_ask = time.monotonic() + VERSION_EVERY

    def get(self, key: str) -> tuple[bool, V | None]:
        """(found, row); a found None is a row known not to exist."""
        if not self.enabled:
            return False, None
        if self._version is not None and (now := time.monotonic()) >= self._next_ask:
            # A row read before a commit and put after it is forgotten here: the commit
            # changed the version after that read began.
            self._next_ask = now + VERSION_EVERY
            seen = self._version()
            if seen != self._seen:
                self.drop(None)
                self._seen = seen
                return False, None
        with self._lock:
            if key not in self._rows:
                return False, None
            self._rows.move_to_end(key)
            return True, self._rows[key]

    @property
    def generation(self) -> int:
        """Read before the query; pass to ``put``."""
        return self._generation

    def put(self, key: str, row: V | None, generation: int) -> None:
        with self._lock:
            if not self.enabled or generation != self._generation:
                return  # changed while it was read: the next read reads it again
            self._rows[key] = row
            self._rows.move_to_end(key)
            if len(self._rows) > self._limit:
                self._rows.popitem(last=False)

    def drop(self, key: str | None) -> None:
        """The row ``key`` changed (None: any may have)."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._rows.clear()
            else:
                self._rows.pop(key, None)

    def stop(self) -> None:
        """Changes can no longer be heard: forget everything, keep nothing more."""
        with self._lock:
            self.enabled = False
            self._generation += 1
            self._rows.clear()
