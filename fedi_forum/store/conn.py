"""The one connection shape every write function of the store is written against, on
either engine: ``conn.execute(sql, params)`` with ``?`` placeholders, a cursor with
``fetchone``/``fetchall``/``rowcount``, rows readable by position and by column name,
and ``conn.dialect`` for the few statements that differ (docs/postgresql.md).

SQLite's ``sqlite3.Connection`` is wrapped thinly (one Python call a statement); the
PostgreSQL connection (psycopg) rewrites ``?`` to ``%s`` once per statement text. Both
turn their driver's constraint error into ``ConstraintViolation``, so the store catches
one exception whatever the engine.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Dialect(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class ConstraintViolation(Exception):
    """A UNIQUE, PRIMARY KEY, NOT NULL or FOREIGN KEY constraint refused a row."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def close(self) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What a write function (``fn(conn) -> result``, run in the group commit) gets."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Cursor: ...


class SqliteConn:
    """``Conn`` over a ``sqlite3.Connection`` (rows are ``sqlite3.Row``)."""

    __slots__ = ("raw",)

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    @property
    def dialect(self) -> Dialect:
        return Dialect.SQLITE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self.raw.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Cursor:
        try:
            return self.raw.executemany(sql, seq)
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolation(str(exc)) from exc


WriteFn = Callable[[Conn], T]


def placeholders(sql: str, mark: str) -> str:
    """``sql`` with each ``?`` outside quotes replaced by ``mark`` (``%s``, or ``$`` which
    is numbered: ``$1``, ``$2`` …), and, for ``%s``, each literal ``%`` doubled. Our SQL
    is written by us (values are always parameters), so quotes are the only context."""
    out: list[str] = []
    n = 0
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" and mark == "%s" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            n += 1
            out.append(f"${n}" if mark == "$" else mark)
        elif ch == "%" and mark == "%s":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)
