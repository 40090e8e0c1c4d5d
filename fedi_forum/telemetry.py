"""What the lower layers report for monitoring, without knowing how it is kept.

The store, the key resolver and the delivery worker call these methods; the default
does nothing. The web layer's ``Metrics`` (web/metrics.py) overrides them with
Prometheus counters and histograms and is handed to each part when the app is composed
(app.py), so no layer below the web imports prometheus-client. Arguments are bounded
words and numbers, never hosts or ids (label cardinality).
"""

from __future__ import annotations


class Telemetry:
    def write_batch(self, writes: int, seconds: float) -> None:
        """One group commit: how many writes it held and how long it took."""

    def key_fetch(self, outcome: str) -> None:
        """A public key fetched from its server: "fetched" | "failed" | "refused"."""

    def delivery(self, outcome: str) -> None:
        """One delivery attempt: "delivered" | "retry" | "dead" | "gone" | "aside"."""


NOOP = Telemetry()
