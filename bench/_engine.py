"""Where a bench's instance keeps its data: SQLite under a directory (the default), or a
PostgreSQL database of its own on the machine's server, made for the bench and dropped
after it (issue #13's PostgreSQL column). ``FEDI_FORUM_BENCH_POSTGRES_URL`` names
another server's maintenance database. Either way the running server gets its storage
through the environment (``Home.env``), as an operator configures it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from _harness import server

from fedi_forum.config import Settings

ENGINES = ("sqlite", "postgresql")
ADMIN_URL = os.environ.get(
    "FEDI_FORUM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@dataclasses.dataclass(frozen=True)
class Home:
    engine: str
    settings: Settings

    def env(self) -> dict[str, str]:
        """What `fedi-forum serve`/`worker` need, besides --data-dir/--keys-dir."""
        s = self.settings
        if self.engine == "sqlite":
            return {"FEDI_FORUM_DATABASE_URL": "", "FEDI_FORUM_SECRET_FILE": ""}
        return {
            "FEDI_FORUM_DATABASE_URL": s.database_url,
            "FEDI_FORUM_SECRET_FILE": str(s.secret_file),
        }

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read of the bench's own (``?`` placeholders), apart from the server."""
        if self.engine == "sqlite":
            db = sqlite3.connect(self.settings.db_path)
            try:
                return list(db.execute(sql, params).fetchall())
            finally:
                db.close()
        import psycopg

        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {table}")[0][0])

    def serve(self, port: int, workers: int, *extra: str) -> Any:
        """The real `fedi-forum serve` on this instance's storage."""
        s = self.settings
        return server(s.data_dir, s.keys_dir, port, workers, *extra, env=self.env())


@contextlib.contextmanager
def home(engine: str, directory: Path, base_url: str) -> Iterator[Home]:
    """An empty instance's storage under ``directory`` (and, on PostgreSQL, a migrated
    database of its own), removed afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    plain = Settings(base_url=base_url, data_dir=directory / "data", keys_dir=directory / "keys")
    if engine == "sqlite":
        yield Home(engine, plain)
        return
    from fedi_forum.store.postgres import apply_pg_migrations

    name = f"ff_bench_{uuid.uuid4().hex[:12]}"
    secret = directory / "secret"
    secret.write_text(secrets.token_urlsafe(32) + "\n")
    secret.chmod(0o600)
    _admin(f"CREATE DATABASE {name}")
    try:
        apply_pg_migrations(_database_url(name))
        yield Home(
            engine,
            dataclasses.replace(plain, database_url=_database_url(name), secret_file=secret),
        )
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def copy(template: Home, directory: Path) -> Iterator[Home]:
    """A fresh copy of a seeded instance for one run (a file copy, or CREATE DATABASE …
    TEMPLATE), removed afterwards."""
    shutil.copytree(template.settings.data_dir.parent, directory)
    s = template.settings
    moved = dataclasses.replace(s, data_dir=directory / "data", keys_dir=directory / "keys")
    if template.engine == "sqlite":
        yield Home("sqlite", moved)
        return
    name = f"ff_bench_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {urlsplit(s.database_url).path.lstrip('/')}")
    try:
        yield Home(
            "postgresql",
            dataclasses.replace(
                moved, database_url=_database_url(name), secret_file=directory / "secret"
            ),
        )
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
