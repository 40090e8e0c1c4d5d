"""Admission slots, per request: ``GuardMiddleware`` (web/guard.py) bounds how many
requests are handled at once; a request waiting on something slow that serves only
itself sets its slot aside meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from starlette.types import Scope

from fedi_forum.errors import Overloaded

ADMISSION_KEY = "fedi_forum.admission"
BUSY = 8  # requests in flight in this process at which its delivery worker yields


class Load:
    """How many requests this process is answering now (``GuardMiddleware`` counts
    them; health checks aside). Its delivery worker asks ``busy`` and, while it is true,
    sends only a few deliveries at a time (federation/delivery.py, "Yielding"): an
    accepted reply waits for nobody, an Announce waits a moment."""

    def __init__(self) -> None:
        self.in_flight = 0

    def busy(self) -> bool:
        return self.in_flight >= BUSY


class Admission:
    """One request's admission slot. ``set_aside()`` gives it back while the request
    waits on something slow that serves only itself (a body trickling in, a key fetch
    for a signer we never saw), so pages and known senders keep their slots during a
    flood of such requests; afterwards a slot is taken again (503 if none comes)."""

    def __init__(
        self,
        slots: asyncio.Semaphore,
        wait: float,
        on_wait: Callable[[float, bool], None] | None = None,
    ) -> None:
        self._slots = slots
        self._wait = wait
        self._on_wait = on_wait  # (seconds waited, admitted), only when it had to wait
        self.held = False

    async def acquire(self) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            self.held = True
            return True
        started = time.perf_counter()
        try:  # only now wait (wait_for costs a task per call)
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except TimeoutError:
            if self._on_wait is not None:
                self._on_wait(time.perf_counter() - started, False)
            return False
        if self._on_wait is not None:
            self._on_wait(time.perf_counter() - started, True)
        self.held = True
        return True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()

    @contextlib.asynccontextmanager
    async def set_aside(self) -> AsyncIterator[None]:
        self.release()
        try:
            yield
        finally:
            if not await self.acquire():
                raise Overloaded("no admission slot after waiting outside one")


@contextlib.asynccontextmanager
async def outside_admission(scope: Scope) -> AsyncIterator[None]:
    """``Admission.set_aside`` of the current request (a no-op outside the middleware)."""
    admission = scope.get(ADMISSION_KEY)
    if admission is None:
        yield
        return
    async with admission.set_aside():
        yield
