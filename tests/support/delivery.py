"""For tests that watch what the delivery worker sends: retries in tenths of a second
(use ``fast_retries`` as an autouse fixture), and ``drain`` to wait until it sent all
that is due."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from fedi_forum.federation import retry

if TYPE_CHECKING:
    from tests.conftest import Live


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", timedelta(seconds=0.2))


async def drain(live: Live, timeout: float = 20) -> None:
    assert live.services.delivery is not None
    async with asyncio.timeout(timeout):
        await live.services.delivery.drain()
