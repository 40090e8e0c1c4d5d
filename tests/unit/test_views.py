from __future__ import annotations

from pathlib import Path

from fedi_forum.forum.views import MAX_TRACKED, SALT_SECONDS, ViewCounter
from fedi_forum.store import Database, Store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reload_storm_counts_once_and_nothing_identifying_is_kept(tmp_path: Path) -> None:
    clock = Clock()
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    try:
        counter = ViewCounter(Store(db), clock=clock)
        assert counter.record(1, "203.0.113.9", "Firefox")
        for _ in range(500):
            assert not counter.record(1, "203.0.113.9", "Firefox")
        assert counter.record(1, "203.0.113.10", "Firefox")  # another visitor
        assert counter.record(2, "203.0.113.9", "Firefox")  # another discussion
        assert counter.pending(1) == 2
        # no address or user agent is kept, only keyed hashes
        state = repr(counter._seen) + repr(counter._pending)
        assert "203.0.113" not in state
        assert "Firefox" not in state
        clock.now += 31 * 60  # after the dedupe window the same visitor counts again
        assert counter.record(1, "203.0.113.9", "Firefox")
        clock.now += SALT_SECONDS + 1  # a new day: a new salt, yesterday's hashes forgotten
        assert counter.record(1, "203.0.113.9", "Firefox")
        assert len(counter._seen) == 1
    finally:
        await db.close()


async def test_memory_is_bounded_and_counts_are_flushed(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    try:
        store = Store(db)
        counter = ViewCounter(store)
        for i in range(MAX_TRACKED + 50):
            counter.record(7, f"10.0.{i // 256}.{i % 256}", "x")
        assert len(counter._seen) == MAX_TRACKED
        await counter.flush()
        assert counter.pending(7) == 0
    finally:
        await db.close()
