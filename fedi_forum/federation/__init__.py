"""The network: SSRF-safe client, signatures on the wire, delivery (from the inbox issue on)."""
