"""Group commit, whatever the engine: every write queued since the last commit runs in
ONE transaction on ONE thread, and each caller gets its own result (or its own
exception) once committed. Why: a transaction per request caps at about 2.5k writes/s
on this kind of machine, group commit reaches about 10k/s (docs/rules.md §14). The
engine supplies ``_commit`` (SQLite: a file lock and BEGIN IMMEDIATE; PostgreSQL: a
rerun after a deadlock with another host's batch)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fedi_forum.store.conn import Conn, T, WriteFn
from fedi_forum.telemetry import NOOP, Telemetry

log = logging.getLogger(__name__)

MAX_BATCH = 512


class GroupCommit:
    """The queue and the batching of group commit, whatever the engine: every write
    queued since the last commit runs in ONE transaction on ONE thread (``_commit``,
    the engine's). Callers get their result, or their own exception, once committed."""

    def __init__(self, thread_name: str) -> None:
        self._thread_name = thread_name
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._queue: asyncio.Queue[tuple[WriteFn[Any], asyncio.Future[Any]] | None] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self.telemetry: Telemetry = NOOP  # the app composition hands in its Metrics

    @property
    def alive(self) -> bool:
        """Its task runs (a writer that died would leave every write waiting)."""
        return self._task is not None and not self._task.done()

    def _start_task(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._thread_name)

    async def run(self, fn: WriteFn[T]) -> T:
        """Run ``fn`` in the next group commit; return its result once committed."""
        if self._task is None or self._task.done():
            raise RuntimeError("writer is not running")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, fut))
        return await fut

    async def _drain(self) -> None:
        """Finish everything queued, then end the task."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[tuple[WriteFn[Any], asyncio.Future[Any]]] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            if not batch:
                continue
            fns = [fn for fn, _ in batch]
            started = time.perf_counter()
            try:
                outcomes = await self._in_thread(functools.partial(self._commit, fns))
                self.telemetry.write_batch(len(fns), time.perf_counter() - started)
            except Exception as exc:  # the COMMIT itself failed: nothing of the batch stands
                log.exception("group commit of %d writes failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), (ok, value) in zip(batch, outcomes, strict=True):
                if fut.done():  # the caller went away (cancelled); the write stands
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _commit(self, fns: Sequence[WriteFn[Any]]) -> list[tuple[bool, Any]]:
        raise NotImplementedError


def isolated(conn: Conn, fn: WriteFn[Any]) -> tuple[bool, Any]:
    """Run ``fn`` inside a SAVEPOINT: if it raises, only its own changes are undone and
    the rest of the batch goes on (both engines)."""
    conn.execute("SAVEPOINT op")
    try:
        result = fn(conn)
    except Exception as exc:  # this write only; the rest of the batch goes on
        conn.execute("ROLLBACK TO SAVEPOINT op")
        conn.execute("RELEASE SAVEPOINT op")
        return False, exc
    conn.execute("RELEASE SAVEPOINT op")
    return True, result
