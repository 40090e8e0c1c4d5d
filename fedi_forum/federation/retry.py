"""When to try a delivery again. Pure: status in, decision out; the clock and the
randomness are passed in so the policy is tested without sleeping.

Mirrors what Mastodon treats as salvageable (docs/rules.md §6,
``response_error_unsalvageable?``): 2xx is done; 401, 408, 429, 5xx (except 501) and
network errors are retried with exponential backoff and jitter for about two days
(429/503 honour Retry-After); 410 Gone means the recipient is gone; any other 4xx,
and 501, is given up at once.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

BASE_DELAY = timedelta(seconds=15)
MAX_DELAY = timedelta(hours=6)
MAX_RETRY_AFTER = timedelta(hours=24)
GIVE_UP_AFTER = timedelta(hours=48)
UNAVAILABLE_AFTER = timedelta(days=3)  # failing that long: skip the server, probe hourly
PROBE_INTERVAL = timedelta(hours=1)


class Decision(enum.StrEnum):
    DONE = "delivered"
    RETRY = "retry"
    GIVE_UP = "dead"
    GONE = "gone"


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    next_attempt_at: datetime | None = None


def classify(status: int | None) -> Decision:
    """``None`` means no HTTP answer (refused, reset, timed out)."""
    if status is None:
        return Decision.RETRY
    if 200 <= status < 300:
        return Decision.DONE
    if status == 410:
        return Decision.GONE
    if status in (401, 408, 429) or (500 <= status < 600 and status != 501):
        return Decision.RETRY
    return Decision.GIVE_UP


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; junk → None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment - now, timedelta(0))


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """15 s, 30 s, 1 min … doubling to a 6 h cap, ±20 % jitter so retries spread out."""
    delay: timedelta = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    return delay * rng.uniform(0.8, 1.2)


def decide(
    status: int | None,
    *,
    attempts: int,
    created_at: datetime,
    now: datetime,
    retry_after: str | None = None,
    rng: random.Random | None = None,
) -> Verdict:
    """``attempts`` counts the attempt just made (1 after the first try)."""
    decision = classify(status)
    if decision is not Decision.RETRY:
        return Verdict(decision)
    delay = backoff(attempts, rng or random.Random())  # noqa: S311 - jitter, not security
    if status in (429, 503):
        asked = parse_retry_after(retry_after, now)
        if asked is not None:
            delay = max(delay, min(asked, MAX_RETRY_AFTER))
    when = now + delay
    if when - created_at > GIVE_UP_AFTER:
        return Verdict(Decision.GIVE_UP)
    return Verdict(Decision.RETRY, when)
