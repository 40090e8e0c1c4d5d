from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fedi_forum.activitypub import keys
from fedi_forum.app import create_app
from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.store import Store
from fedi_forum.web.state import Services
from tests.support.live import live_server
from tests.support.remote import RemoteServer, remote_server

_SERVER_KEYS: list[rsa.RSAPrivateKey] = []
_MAKE_KEY = keys.generate_private_key


@pytest.fixture(autouse=True)
def reused_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own RSA keys (instance, groups, staff) come from a pool shared by all tests:
    generating one costs ~55 ms and a test makes several. Within a test every key is
    still a different real key (the n-th key asked for is the pool's n-th), so a key
    never stands in for another's; the pool is apart from the fake remote actors' keys.
    Tests that start servers as subprocesses generate their own. A test about key
    generation itself is marked ``fresh_keys``."""
    if request.node.get_closest_marker("fresh_keys"):
        return
    handed_out = 0

    def pooled() -> rsa.RSAPrivateKey:
        nonlocal handed_out
        while len(_SERVER_KEYS) <= handed_out:
            _SERVER_KEYS.append(_MAKE_KEY())
        handed_out += 1
        return _SERVER_KEYS[handed_out - 1]

    monkeypatch.setattr(keys, "generate_private_key", pooled)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        base_url="http://127.0.0.1:8000", data_dir=tmp_path / "data", keys_dir=tmp_path / "keys"
    )


@dataclass
class Live:
    """A running instance: its URL, an HTTP client on it, and its services."""

    base_url: str
    client: httpx.AsyncClient
    services: Services
    settings: Settings

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def discussions(self) -> Discussions:
        return self.services.discussions

    @property
    def domain(self) -> str:
        return self.settings.domain


@pytest.fixture
async def remote() -> AsyncIterator[RemoteServer]:
    """A fake remote Mastodon-like server on 127.0.0.1 (its own port)."""
    async with remote_server() as server:
        yield server


@contextlib.asynccontextmanager
async def live_instance(home: Path, tls: tuple[Path, Path] | None = None) -> AsyncIterator[Live]:
    """A real instance (own data dir and keys under ``home``) on a free loopback port,
    over https with ``tls`` = (certificate, key)."""
    made: dict[str, Settings] = {}

    def make(base_url: str):  # type: ignore[no-untyped-def]
        made["s"] = Settings(
            base_url=base_url,
            data_dir=home / "data",
            keys_dir=home / "keys",
            instance_name="Testforum",
            contact_email="moderatie@example.nl",
            allow_loopback=True,
        )
        return create_app(made["s"])

    async with (
        live_server(make, tls) as (base_url, app),
        httpx.AsyncClient(
            base_url=base_url, timeout=10, verify=ssl.create_default_context(cafile=tls[0])
        )
        if tls
        else httpx.AsyncClient(base_url=base_url, timeout=10) as client,
    ):
        yield Live(base_url, client, app.state.services, made["s"])


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_instance(tmp_path) as instance:
        yield instance
