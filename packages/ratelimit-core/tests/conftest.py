"""Shared fixtures: a clock that tests move by hand, a store on it, and the event loop's time on it too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ratelimit_core import MemoryStore
from ratelimit_core.testing import LoopTime, ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.fixture
async def loop_time(clock: ManualClock) -> AsyncIterator[LoopTime]:
    """The running loop's time on ``clock``, fast-forwarded (see :class:`~ratelimit_core.testing.LoopTime`)."""
    with LoopTime(clock) as patched:
        yield patched
