"""The two storage engines for tests: a SQLite file under the test's tmp_path, or a
PostgreSQL database of its own on the machine's server (127.0.0.1:5432, trust auth),
copied from a migrated template made once per test session and dropped at the end of
the test. ``FEDI_FORUM_TEST_POSTGRES_URL`` names another server (its maintenance
database, e.g. ``postgresql://postgres@db.internal:5432/postgres``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from fedi_forum.store import Database
from fedi_forum.store.postgres import PostgresDatabase, apply_pg_migrations

ADMIN_URL = os.environ.get(
    "FEDI_FORUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("sqlite", "postgresql")


def secret_file(home: Path) -> Path:
    """``home``'s secret file (made once, 0600): what a PostgreSQL instance seals its
    private keys with (store/keyring.py)."""
    path = home / "secret"
    if not path.exists():
        path.write_text(f"{secrets.token_urlsafe(32)}\n")
        path.chmod(0o600)
    return path


def database_url(name: str) -> str:
    """The admin URL with another database name."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


def postgres_unavailable() -> str:
    """Why no test database can be made ("" when one can)."""
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{ADMIN_URL}: {exc}".strip()
    return ""


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # names made here, not input


@contextlib.contextmanager
def template_database() -> Iterator[str]:
    """A migrated database to copy each test's database from (CREATE DATABASE …
    TEMPLATE copies files: far faster than running the migrations per test)."""
    name = f"ff_template_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        apply_pg_migrations(database_url(name))
        yield name
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def fresh_database(template: str) -> Iterator[str]:
    """A new database copied from ``template``; dropped (connections and all) after."""
    name = f"ff_test_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield database_url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.asynccontextmanager
async def open_database(
    engine: str, tmp_path: Path, template: str | None
) -> AsyncIterator[Database | PostgresDatabase]:
    """An open store database on ``engine``, closed after."""
    if engine == "sqlite":
        database: Database | PostgresDatabase = Database(tmp_path / "data" / "db.sqlite3")
        await database.open()
        try:
            yield database
        finally:
            await database.close()
        return
    assert template is not None
    with fresh_database(template) as url:
        database = PostgresDatabase(url)
        await database.open()
        try:
            yield database
        finally:
            await database.close()
