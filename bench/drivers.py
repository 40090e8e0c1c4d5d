"""Which PostgreSQL driver for the store (issue #13): asyncpg, psycopg 3 (async, and
sync on the store's writer thread) and SQLAlchemy Core (over asyncpg), measured on the
store's own two shapes of work, against the local PostgreSQL, in one run:

* read: a point SELECT by primary key (a page's discussion), 8 concurrent callers;
* write: one inbox reply's transaction — 6 statements (dedupe mark, seq bump, note
  insert, outbox insert, deliveries insert, revision bump) — 8 concurrent callers.

Prints ops/s per driver, median of 5 rounds, and the spread. PostgreSQL shares this
machine's 2 cores with the driver, so the figures are relative, not absolute.

    pip install sqlalchemy psycopg-pool   # the candidates we did not choose
    python bench/drivers.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import psycopg

try:
    import psycopg_pool
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
except ImportError as missing:  # not dependencies of fedi-forum: only compared here
    sys.exit(f"{missing.name} is not installed: pip install sqlalchemy psycopg-pool")

ROUNDS = 5
SECONDS = 1.5
CONCURRENCY = 8

SCHEMA = """
DROP TABLE IF EXISTS b_seen, b_notes, b_outbox, b_deliveries, b_discussions;
CREATE TABLE b_discussions (id BIGINT PRIMARY KEY, slug TEXT NOT NULL, title TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL DEFAULT 0);
CREATE TABLE b_seen (actor TEXT NOT NULL, activity TEXT NOT NULL, PRIMARY KEY (actor, activity));
CREATE TABLE b_notes (id BIGSERIAL PRIMARY KEY, discussion_id BIGINT NOT NULL, seq INTEGER NOT NULL,
  ap_id TEXT NOT NULL UNIQUE, content TEXT NOT NULL);
CREATE TABLE b_outbox (id BIGSERIAL PRIMARY KEY, discussion_id BIGINT NOT NULL,
  payload TEXT NOT NULL);
CREATE TABLE b_deliveries (id BIGSERIAL PRIMARY KEY, inbox TEXT NOT NULL, payload TEXT NOT NULL);
INSERT INTO b_discussions (id, slug, title) SELECT g, 'd' || g, 'Discussion ' || g
  FROM generate_series(1, 1000) g;
"""

READ = "SELECT id, slug, title, last_seq, revision FROM b_discussions WHERE id = {p1}"
WRITES = [
    "INSERT INTO b_seen (actor, activity) VALUES ({p1}, {p2}) ON CONFLICT DO NOTHING",
    "UPDATE b_discussions SET last_seq = last_seq + 1 WHERE id = {p1} RETURNING last_seq",
    "INSERT INTO b_notes (discussion_id, seq, ap_id, content) VALUES ({p1}, {p2}, {p3}, {p4})",
    "INSERT INTO b_outbox (discussion_id, payload) VALUES ({p1}, {p2})",
    "INSERT INTO b_deliveries (inbox, payload) VALUES ({p1}, {p2})",
    "UPDATE b_discussions SET revision = revision + 1 WHERE id = {p1}",
]


def sql(template: str, style: str) -> str:
    marks = {"asyncpg": "${n}", "psycopg": "%s", "sqlalchemy": ":p{n}"}[style]
    return template.format(**{f"p{n}": marks.format(n=n) for n in range(1, 5)})


def write_params(i: int) -> list[tuple[object, ...]]:
    d = 1 + i % 1000
    ap = f"https://remote.example/notes/{uuid.uuid4()}"
    payload = '{"type":"Announce","object":"' + ap + '"}'
    return [
        ("https://remote.example/users/a", ap),
        (d,),
        (d, i, ap, "<p>hello</p>" * 20),
        (d, payload),
        ("https://remote.example/inbox", payload),
        (d,),
    ]


async def rate(op: Callable[[int], Awaitable[None]]) -> float:
    done = 0
    stop = time.perf_counter() + SECONDS

    async def caller(k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop:
            await op(i)
            i += CONCURRENCY
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(CONCURRENCY)))
    return done / (time.perf_counter() - start)


async def drivers(url: str) -> dict[str, tuple[Callable[[int], Awaitable[None]], ...]]:
    apool = await asyncpg.create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    ppool = psycopg_pool.AsyncConnectionPool(
        url, min_size=CONCURRENCY, max_size=CONCURRENCY, open=False
    )
    await ppool.open()
    spool = psycopg_pool.ConnectionPool(url, min_size=CONCURRENCY, max_size=CONCURRENCY, open=True)
    threads = ThreadPoolExecutor(CONCURRENCY)
    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+asyncpg://"), pool_size=CONCURRENCY
    )

    async def asyncpg_read(i: int) -> None:
        async with apool.acquire() as c:
            await c.fetchrow(sql(READ, "asyncpg"), 1 + i % 1000)

    async def asyncpg_write(i: int) -> None:
        async with apool.acquire() as c, c.transaction():
            for stmt, params in zip(WRITES, write_params(i), strict=True):
                await c.execute(sql(stmt, "asyncpg"), *params)

    async def psycopg_read(i: int) -> None:
        async with ppool.connection() as c:
            await (await c.execute(sql(READ, "psycopg"), (1 + i % 1000,))).fetchone()

    async def psycopg_write(i: int) -> None:
        async with ppool.connection() as c, c.transaction():
            for stmt, params in zip(WRITES, write_params(i), strict=True):
                await c.execute(sql(stmt, "psycopg"), params)

    def sync_read(i: int) -> None:
        with spool.connection() as c:
            c.execute(sql(READ, "psycopg"), (1 + i % 1000,)).fetchone()

    def sync_write(i: int) -> None:
        with spool.connection() as c, c.transaction():
            for stmt, params in zip(WRITES, write_params(i), strict=True):
                c.execute(sql(stmt, "psycopg"), params)

    loop = asyncio.get_running_loop()

    async def thread_read(i: int) -> None:
        await loop.run_in_executor(threads, sync_read, i)

    async def thread_write(i: int) -> None:
        await loop.run_in_executor(threads, sync_write, i)

    async def sa_read(i: int) -> None:
        async with engine.connect() as c:
            (await c.execute(text(sql(READ, "sqlalchemy")), {"p1": 1 + i % 1000})).fetchone()

    async def sa_write(i: int) -> None:
        async with engine.begin() as c:
            for stmt, params in zip(WRITES, write_params(i), strict=True):
                await c.execute(
                    text(sql(stmt, "sqlalchemy")), {f"p{n + 1}": v for n, v in enumerate(params)}
                )

    return {
        "asyncpg": (asyncpg_read, asyncpg_write),
        "psycopg3 async": (psycopg_read, psycopg_write),
        "psycopg3 sync, thread": (thread_read, thread_write),
        "sqlalchemy core (asyncpg)": (sa_read, sa_write),
    }


async def main(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(SCHEMA)
    ops = await drivers(url)
    results: dict[str, list[list[float]]] = {name: [[], []] for name in ops}
    for _ in range(ROUNDS):  # interleaved: noise hits every driver alike
        for name, (read, write) in ops.items():
            results[name][0].append(await rate(read))
            results[name][1].append(await rate(write))
    print(f"{'driver':28} {'read ops/s':>12} {'spread':>15} {'write tx/s':>12} {'spread':>13}")
    base = statistics.median(results["asyncpg"][0]), statistics.median(results["asyncpg"][1])
    for name, (reads, writes) in results.items():
        r, w = statistics.median(reads), statistics.median(writes)
        print(
            f"{name:28} {r:12,.0f} {min(reads):7,.0f}-{max(reads):<7,.0f} "
            f"{w:12,.0f} {min(writes):6,.0f}-{max(writes):<6,.0f}"
            f"  ({r / base[0]:.2f}x / {w / base[1]:.2f}x of asyncpg)"
        )
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS b_seen, b_notes, b_outbox, b_deliveries, b_discussions")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    sys.exit(asyncio.run(main(parser.parse_args().url)))
