from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fedi_forum.app import create_app
from fedi_forum.config import Settings
from fedi_forum.forum.discussions import Discussions
from fedi_forum.store import Store
from fedi_forum.web.state import Services
from tests.support.live import live_server
from tests.support.remote import RemoteServer, remote_server


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
