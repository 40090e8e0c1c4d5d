"""Use cases: what the forum does, independent of HTTP. Queues deliveries; never sends."""
