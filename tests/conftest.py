from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
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
from fedi_forum.store.engine import Engine
from fedi_forum.web.state import Services
from tests.support.engines import (
    ENGINES,
    fresh_database,
    open_database,
    postgres_unavailable,
    secret_file,
    template_database,
)
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
    lock = threading.Lock()  # keys are made in threads: never hand one out twice

    def pooled() -> rsa.RSAPrivateKey:
        nonlocal handed_out
        with lock:
            while len(_SERVER_KEYS) <= handed_out:
                _SERVER_KEYS.append(_MAKE_KEY())
            handed_out += 1
            return _SERVER_KEYS[handed_out - 1]

    monkeypatch.setattr(keys, "generate_private_key", pooled)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is copied from. No
    server answering: a skip on a developer's machine, a failure in CI (.ci/run sets
    FEDI_FORUM_TEST_REQUIRE_POSTGRES)."""
    problem = postgres_unavailable()
    if problem:
        if os.environ.get("FEDI_FORUM_TEST_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required here: {problem}")
        pytest.skip(f"no PostgreSQL to test on: {problem}")
    with template_database() as name:
        yield name


@pytest.fixture(params=ENGINES)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    """An open database of the store on each engine in turn (the test runs twice)."""
    template = request.getfixturevalue("pg_template") if request.param == "postgresql" else None
    async with open_database(request.param, tmp_path, template) as database:
        yield database


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

    @property
    def cli_options(self) -> list[str]:
        """What a `fedi-forum` command needs to work on this instance's data."""
        s = self.settings
        options = ["--base-url", s.base_url, "--data-dir", str(s.data_dir)]
        options += ["--keys-dir", str(s.keys_dir)]
        if s.secret_file is not None:
            options += ["--secret-file", str(s.secret_file)]
        return options + (["--database-url", s.database_url] if s.database_url else [])


@pytest.fixture
async def remote() -> AsyncIterator[RemoteServer]:
    """A fake remote Mastodon-like server on 127.0.0.1 (its own port)."""
    async with remote_server() as server:
        yield server


@contextlib.asynccontextmanager
async def live_instance(
    home: Path, tls: tuple[Path, Path] | None = None, database_url: str = ""
) -> AsyncIterator[Live]:
    """A real instance (own data dir and keys under ``home``) on a free loopback port,
    over https with ``tls`` = (certificate, key), on ``database_url`` (default: SQLite in
    the data directory)."""
    made: dict[str, Settings] = {}

    def make(base_url: str):  # type: ignore[no-untyped-def]
        made["s"] = Settings(
            base_url=base_url,
            data_dir=home / "data",
            database_url=database_url,
            keys_dir=home / "keys",
            secret_file=secret_file(home) if database_url else None,
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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--engine",
        choices=ENGINES,
        default=os.environ.get("FEDI_FORUM_TEST_ENGINE", "sqlite"),
        help="the engine the live instances of the integration tests run on "
        "(the store's own tests run on both always)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_pg = config.getoption("--engine") == "postgresql"
    marker = "sqlite_only" if on_pg else "postgresql_only"
    for item in items:
        if found := item.get_closest_marker(marker):
            # a test may say why it is for one engine: sqlite_only(reason=…)
            reason = found.kwargs.get("reason") or (
                "about the SQLite file; PostgreSQL has pg_dump (docs)"
                if on_pg
                else "about several hosts on PostgreSQL: runs with --engine postgresql"
            )
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--engine"))


@pytest.fixture
async def live(request: pytest.FixtureRequest, tmp_path: Path, engine: str) -> AsyncIterator[Live]:
    if engine == "sqlite":
        async with live_instance(tmp_path) as instance:
            yield instance
        return
    with fresh_database(request.getfixturevalue("pg_template")) as url:
        async with live_instance(tmp_path, database_url=url) as instance:
            yield instance
