"""The one way a service ends the background task it runs (a view-count flusher, the
WAL checkpointer, the moderators' mail): cancel it and wait until it has ended, so
nothing it does runs on after its owner is closed. A leaf: every layer may use it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancelled(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if there is one) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
