"""The copies of discussion rows a web process keeps (store/row_cache.py): a read that
overlaps a change never puts the old row back, and a cache that can no longer hear
changes keeps nothing."""

from __future__ import annotations

from fedi_forum.store.row_cache import RowCache


def test_a_row_read_across_a_change_is_not_kept() -> None:
    cache: RowCache[str] = RowCache()
    cache.enabled = True
    before = cache.generation  # a read starts
    cache.drop("park")  # a change commits meanwhile
    cache.put("park", "old title", before)  # the read ends with the old row
    assert cache.get("park") == (False, None)
    fresh = cache.generation
    cache.put("park", "new title", fresh)
    assert cache.get("park") == (True, "new title")
    cache.drop("park")
    assert cache.get("park") == (False, None)


def test_missing_rows_are_kept_as_missing_and_any_change_may_drop_all() -> None:
    cache: RowCache[str] = RowCache()
    cache.enabled = True
    cache.put("nee", None, cache.generation)
    cache.put("park", "p", cache.generation)
    assert cache.get("nee") == (True, None)
    cache.drop(None)
    assert cache.get("nee") == cache.get("park") == (False, None)


def test_off_keeps_nothing_and_stop_turns_it_off() -> None:
    cache: RowCache[str] = RowCache()
    cache.put("park", "p", cache.generation)  # not enabled (SQLite)
    assert cache.get("park") == (False, None)
    cache.enabled = True
    cache.put("park", "p", cache.generation)
    cache.stop()
    assert cache.get("park") == (False, None)
    cache.put("park", "p", cache.generation)
    assert cache.get("park") == (False, None)


def test_bounded_least_recently_used() -> None:
    cache: RowCache[int] = RowCache(limit=3)
    cache.enabled = True
    for n in range(3):
        cache.put(f"d{n}", n, cache.generation)
    assert cache.get("d0") == (True, 0)  # used: d1 is now the oldest
    cache.put("d3", 3, cache.generation)
    assert cache.get("d1") == (False, None)
    assert [cache.get(k)[0] for k in ("d0", "d2", "d3")] == [True, True, True]
