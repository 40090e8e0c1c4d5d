"""Settings: read once (from the environment and the command line), then passed down.

Nothing else in the package reads the environment. ``Settings`` is frozen so a running
server cannot drift from what it was started with.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LANGUAGES = ("nl", "en")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")

# Each env variable maps to a Settings field; the README's settings table lists them all
# (a test keeps the two in step).
ENV_VARS: dict[str, str] = {
    "FEDI_FORUM_BASE_URL": "base_url",
    "FEDI_FORUM_DATA_DIR": "data_dir",
    "FEDI_FORUM_DATABASE_URL": "database_url",
    "FEDI_FORUM_KEYS_DIR": "keys_dir",
    "FEDI_FORUM_SECRET_FILE": "secret_file",
    "FEDI_FORUM_DEFAULT_LANG": "default_lang",
    "FEDI_FORUM_INSTANCE_NAME": "instance_name",
    "FEDI_FORUM_CONTACT_EMAIL": "contact_email",
    "FEDI_FORUM_ABOUT_FILE": "about_file",
    "FEDI_FORUM_TERMS_FILE": "terms_file",
    "FEDI_FORUM_TIMEZONE": "timezone",
    "FEDI_FORUM_ALLOW_LOOPBACK": "allow_loopback",
    "FEDI_FORUM_DELIVERY_LEASE_SECONDS": "delivery_lease_seconds",
    "FEDI_FORUM_INBOX_RATE": "inbox_rate",
    "FEDI_FORUM_MAX_IN_FLIGHT": "max_in_flight",
    "FEDI_FORUM_LOG_FORMAT": "log_format",
    "FEDI_FORUM_TRUSTED_PROXIES": "trusted_proxies",
    "FEDI_FORUM_METRICS_ALLOW": "metrics_allow",
    "FEDI_FORUM_METRICS_TOKEN": "metrics_token",
    "FEDI_FORUM_RECOMMENDED_SERVERS": "recommended_servers",
    "FEDI_FORUM_SMTP_URL": "smtp_url",
    "FEDI_FORUM_MODERATION_EMAIL": "moderation_email",
    "FEDI_FORUM_MAIL_FROM": "mail_from",
    "FEDI_FORUM_NOTIFY_SECONDS": "notify_seconds",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to know about its instance.

    ``base_url`` is the public origin (scheme://host[:port]) every id is built from; it
    must be what remote servers use to reach us, because signatures cover the host.
    """

    base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")
    # sqlite:///path or postgresql://user:pass@host:port/db; empty: the SQLite file in
    # the data directory (docs/postgresql.md).
    database_url: str = ""
    keys_dir: Path = Path("keys")
    # A file of secrets (one per line, the first seals): when set, private keys live in
    # the database sealed with it (store/keyring.py). Required on PostgreSQL.
    secret_file: Path | None = None
    default_lang: str = "nl"
    instance_name: str = "fedi-forum"
    contact_email: str = ""
    # Fediverse servers the pages suggest to residents without an account (comma-
    # separated host names, e.g. the government's own); empty: a general directory.
    recommended_servers: str = ""
    about_file: Path | None = None
    terms_file: Path | None = None
    timezone: str = "Europe/Amsterdam"  # for times shown on pages; stored times are UTC
    # Fetch from loopback addresses and over plain http. Only for tests, local demos and
    # several instances on one machine; never on a public server (SSRF).
    allow_loopback: bool = False
    # Run the delivery worker inside the web process (off: run `fedi-forum worker` apart).
    run_worker: bool = True
    # How long a worker holds a claimed delivery before another may take it over (after
    # a crash). With several workers keep it above the 20 s POST timeout, or a slow POST
    # may be sent twice (receivers dedupe by activity id, but it is wasted work).
    delivery_lease_seconds: int = 120
    # Inbox requests per second per client address and per signing server (burst 10x);
    # 0 disables. Past it: 429 with Retry-After, which Mastodon and others honour.
    inbox_rate: float = 50.0
    # Requests handled at once per process; past it: 503 with Retry-After, at once,
    # instead of an unbounded queue (GoToSocial fell over at ~550 in flight).
    max_in_flight: int = 128
    # Addresses/CIDRs of the reverse proxies whose X-Forwarded-For/-Proto are believed
    # (with `serve --proxy-headers`); the per-client limits then see the visitor's
    # address instead of the proxy's.
    trusted_proxies: str = "127.0.0.1,::1"
    # Who may read /metrics: these addresses/CIDRs, or a bearer token (if set).
    metrics_allow: str = "127.0.0.1,::1"
    metrics_token: str = ""
    # Mail to the moderators about new reports and held replies, batched (forum/
    # notifications.py): smtp://[user:pass@]host[:port][?starttls=1] or smtps://…
    smtp_url: str = ""
    moderation_email: str = ""  # comma-separated addresses
    mail_from: str = ""  # default: fedi-forum@<domain>
    notify_seconds: int = 300
    # "text" for people, "json" (one object per line) for log shippers.
    log_format: str = "text"
    # Take a proxy's X-Request-Id as ours (only behind a trusted proxy: serve
    # --proxy-headers sets it; never from the environment alone).
    trust_request_id: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL must be http(s)://host[:port], got {self.base_url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("base URL must not have a path, query or fragment")
        object.__setattr__(self, "base_url", f"{parts.scheme}://{parts.netloc.lower()}")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        if not 5 <= self.delivery_lease_seconds <= 3600:
            raise ValueError("delivery lease must be 5-3600 seconds")
        for entry in filter(None, (e.strip() for e in self.metrics_allow.split(","))):
            ipaddress.ip_network(entry, strict=False)
        for entry in filter(None, (e.strip() for e in self.trusted_proxies.split(","))):
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)  # ValueError names the bad one
        if self.log_format not in ("text", "json"):
            raise ValueError("log format must be text or json")
        if self.database_url and not self.database_url.startswith(
            ("sqlite:///", "postgresql://", "postgres://")
        ):
            raise ValueError("database URL must start with sqlite:/// or postgresql://")
        if self.default_lang not in LANGUAGES:
            raise ValueError(f"default language must be one of {LANGUAGES}")
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP URL must start with smtp:// or smtps://")
        if not 5 <= self.notify_seconds <= 86400:
            raise ValueError("notify interval must be 5-86400 seconds")
        for host in self.recommended_hosts:
            if not _HOST.fullmatch(host):
                raise ValueError(f"recommended server {host!r} is not a host name")

    @property
    def moderator_addresses(self) -> list[str]:
        return [a.strip() for a in self.moderation_email.split(",") if "@" in a]

    @property
    def recommended_hosts(self) -> list[str]:
        return [h.strip().lower() for h in self.recommended_servers.split(",") if h.strip()]

    @property
    def domain(self) -> str:
        """The host (with a non-default port) used in handles: ``@slug@domain``."""
        return urlsplit(self.base_url).netloc

    @property
    def db_path(self) -> Path:
        """The SQLite file (the default engine's; unused on PostgreSQL)."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "fedi-forum.sqlite3"

    @property
    def on_postgresql(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @classmethod
    def load(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Environment first, then explicit overrides (command-line flags) win.

        ``None`` overrides are ignored so argparse defaults can be passed straight in.
        """
        values: dict[str, Any] = {}
        for var, field in ENV_VARS.items():
            if environ.get(var):
                values[field] = environ[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, kind in (("inbox_rate", float), ("max_in_flight", int)):
            if isinstance(values.get(name), str):
                values[name] = kind(values[name])
        for name in ("delivery_lease_seconds", "notify_seconds"):
            if isinstance(values.get(name), str):
                values[name] = int(values[name])
        if isinstance(values.get("allow_loopback"), str):
            values["allow_loopback"] = values["allow_loopback"].lower() in ("1", "true", "yes")
        for field in ("data_dir", "keys_dir", "secret_file", "about_file", "terms_file"):
            if isinstance(values.get(field), str):
                values[field] = Path(values[field])
        return cls(**values)
