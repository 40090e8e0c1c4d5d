"""How hard to push each remote server: a circuit breaker and slow start per host
(docs/delivery.md). Pure: the clock is passed in (monotonic seconds).

Faulty followers must not slow healthy ones (measured before this: 15 servers that
never answered and 30 answering 500 made 255 healthy ones wait 3.6× as long). So:

* **Slow start.** A server we have not heard from gets ``START`` deliveries at once;
  each answer raises that by one, up to ``PER_HOST``. A black hole costs two slots for
  one timeout, not eight.
* **Short timeouts for slow servers.** After a request went unanswered, the server's
  requests get ``SHORT_TIMEOUT`` seconds until it answers one in time again.
* **Breaker.** ``THRESHOLD`` failures in a row (no answer, 5xx, 429) open the breaker:
  nothing is claimed for the server for a cool-down (30 s, doubling to 10 min), then
  one probe at a time (half-open) until an answer closes it. This is Mastodon's
  "unavailable domain" in miniature and in memory; the database's ``unavailable_since``
  (3 days of failures) stays the long-term mark that survives restarts.
* **Poison.** A delivery that goes unanswered while the same server answered others
  meanwhile is the problem, not the server: after ``POISON_TIMEOUTS`` such timeouts it
  is set aside (retried by hand), so it stops costing a slot and retries.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

PER_HOST = 8  # deliveries in flight to one server, at most
START = 2  # … to a server that has not answered yet
NORMAL_TIMEOUT = 20.0  # seconds for a POST (client.POST_TIMEOUT)
SHORT_TIMEOUT = 5.0  # … to a server whose last request went unanswered
THRESHOLD = 5  # failures in a row that open the breaker
COOLDOWN = 30.0
MAX_COOLDOWN = 600.0
POISON_TIMEOUTS = 3
MAX_HOSTS = 10_000  # remembered (least recently used forgotten first)


@dataclasses.dataclass(slots=True)
class _Host:
    streak: int = 0  # answers in a row
    failures: int = 0  # failures in a row
    open_until: float = 0.0
    cooldown: float = 0.0
    slow: bool = False  # the last request went unanswered
    answered_at: float | None = None


class HostHealth:
    def __init__(self) -> None:
        self._hosts: OrderedDict[str, _Host] = OrderedDict()
        self._limited: set[str] = set()  # hosts whose limit is below PER_HOST

    def _get(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host()
            if len(self._hosts) > MAX_HOSTS:
                forgotten, _ = self._hosts.popitem(last=False)
                self._limited.discard(forgotten)
        else:
            self._hosts.move_to_end(host)
        return state

    def troubled(self) -> set[str]:
        """Hosts held below ``PER_HOST`` (ramping up, failing, or breaker open): the
        claim must be told their room; any other host gets the default."""
        return set(self._limited)

    def limit(self, host: str, now: float) -> int:
        """How many deliveries may be in flight to ``host`` now (0: breaker open)."""
        state = self._hosts.get(host)
        if state is None:
            return START
        if state.open_until > now:
            return 0
        if state.failures >= THRESHOLD:
            return 1  # half-open: one probe
        return min(PER_HOST, START + state.streak)

    def is_open(self, host: str, now: float) -> bool:
        state = self._hosts.get(host)
        return state is not None and state.open_until > now

    def timeout(self, host: str) -> float:
        state = self._hosts.get(host)
        return SHORT_TIMEOUT if state is not None and state.slow else NORMAL_TIMEOUT

    def answered(self, host: str, now: float) -> None:
        """The server answered (any status but 5xx/429)."""
        state = self._get(host)
        state.streak = min(state.streak + 1, PER_HOST)
        state.failures = 0
        state.cooldown = 0.0
        state.open_until = 0.0
        state.slow = False
        state.answered_at = now
        if START + state.streak >= PER_HOST:
            self._limited.discard(host)
        else:
            self._limited.add(host)

    def failed(self, host: str, now: float, *, unanswered: bool) -> None:
        """No answer (``unanswered``: it took the request and stayed silent), a 5xx or
        a 429."""
        state = self._get(host)
        state.streak = 0
        state.failures += 1
        self._limited.add(host)
        state.slow = state.slow or unanswered
        # While open, what fails is what was in flight when it opened: one incident,
        # not one each (8 requests in flight to a server that went down once made its
        # cooldown 30 s x 2^3 = 4 min). Only a failure when it is not open — the
        # half-open probe, or the one that opens it — starts or doubles a cooldown.
        if state.failures >= THRESHOLD and state.open_until <= now:
            state.cooldown = min(max(state.cooldown * 2, COOLDOWN), MAX_COOLDOWN)
            state.open_until = now + state.cooldown

    def blames_activity(self, host: str, sent_at: float) -> bool:
        """A delivery sent at ``sent_at`` went unanswered: it is the activity's fault
        (poison) if the server answered others while it waited — a server that went
        down answers nothing, and its rows wait for it instead of being set aside."""
        state = self._hosts.get(host)
        return state is not None and state.answered_at is not None and state.answered_at > sent_at
