"""Process-local copies of discussion rows for pages and documents, kept only while the
engine tells this process of every change to them (docs/postgresql.md, "Cached reads").

On PostgreSQL every change to a ``discussions`` row notifies (a trigger, ``NOTIFY
ff_discussions, slug``): the writer's own connection listens, so this process's writes
drop their rows during their COMMIT, before the write returns (read-your-writes), and a
connection of its own hears the other hosts' writes within the notification's delivery.
A GET of a page, an outbox page or a group actor then needs no database round trip at
all. SQLite tells nobody (and reads in-process for some microseconds): no cache.

A read that starts before a change and finishes after it must not put back the old row:
every drop advances a generation, and a row read under an older one is not kept. The
writer's thread drops too, hence the lock. Losing the listening connection empties the
cache and turns it off (reads go to the database again) until the process restarts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")
LIMIT = 4096  # discussions kept; an attacker asking for random slugs only churns it


class RowCache(Generic[V]):
    def __init__(self, limit: int = LIMIT) -> None:
        self._rows: OrderedDict[str, V | None] = OrderedDict()
        self._limit = limit
        self._generation = 0
        self._lock = threading.Lock()
        self.enabled = False

    def get(self, key: str) -> tuple[bool, V | None]:
        """(found, row); a found None is a row known not to exist."""
        if not self.enabled:
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
