"""The retry policy, without sleeping: Mastodon's salvageable codes, backoff, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from fedi_forum.federation.retry import (
    GIVE_UP_AFTER,
    MAX_DELAY,
    Decision,
    backoff,
    classify,
    decide,
    parse_retry_after,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "decision"),
    [
        (200, Decision.DONE),
        (202, Decision.DONE),
        (204, Decision.DONE),
        (410, Decision.GONE),
        (401, Decision.RETRY),
        (408, Decision.RETRY),
        (429, Decision.RETRY),
        (500, Decision.RETRY),
        (502, Decision.RETRY),
        (503, Decision.RETRY),
        (None, Decision.RETRY),
        (400, Decision.GIVE_UP),
        (403, Decision.GIVE_UP),
        (404, Decision.GIVE_UP),
        (422, Decision.GIVE_UP),
        (501, Decision.GIVE_UP),
        (301, Decision.GIVE_UP),
    ],
)
def test_classify_mirrors_mastodon(status: int | None, decision: Decision) -> None:
    assert classify(status) == decision


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff(n, rng) for n in range(1, 20)]
    assert timedelta(seconds=12) <= delays[0] <= timedelta(seconds=18)
    assert delays[3] > delays[2] > delays[1]
    assert all(d <= MAX_DELAY * 1.2 for d in delays)
    spread = {backoff(5, random.Random(i)) for i in range(20)}
    assert len(spread) > 10  # retries of many deliveries do not all line up


def test_retries_go_on_for_about_two_days_then_stop() -> None:
    created, now, attempts = NOW, NOW, 0
    rng = random.Random(1)
    while True:
        attempts += 1
        verdict = decide(503, attempts=attempts, created_at=created, now=now, rng=rng)
        if verdict.decision is Decision.GIVE_UP:
            break
        assert verdict.next_attempt_at is not None
        now = verdict.next_attempt_at
    assert GIVE_UP_AFTER - timedelta(hours=7) <= now - created <= GIVE_UP_AFTER
    assert 10 <= attempts <= 25


def test_retry_after_is_honoured_for_429_and_503_only() -> None:
    v = decide(429, attempts=1, created_at=NOW, now=NOW, retry_after="120", rng=random.Random(0))
    assert v.next_attempt_at is not None
    assert v.next_attempt_at >= NOW + timedelta(seconds=120)
    v = decide(
        503,
        attempts=1,
        created_at=NOW,
        now=NOW,
        retry_after="Sat, 28 Nov 2026 13:00:00 GMT",
        rng=random.Random(0),
    )
    assert v.next_attempt_at is not None
    assert v.next_attempt_at >= NOW + timedelta(hours=1)
    v = decide(500, attempts=1, created_at=NOW, now=NOW, retry_after="3600", rng=random.Random(0))
    assert v.next_attempt_at is not None
    assert v.next_attempt_at < NOW + timedelta(minutes=1)
    huge = decide(
        429, attempts=1, created_at=NOW, now=NOW, retry_after="99999999", rng=random.Random(0)
    )
    assert huge.next_attempt_at is not None
    assert huge.next_attempt_at <= NOW + timedelta(hours=24, seconds=30)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "Thu, 99 Foo"])
def test_bad_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_terminal_decisions_have_no_next_attempt() -> None:
    for status in (202, 404, 410):
        assert decide(status, attempts=1, created_at=NOW, now=NOW).next_attempt_at is None
