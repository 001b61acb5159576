"""Shared fixtures: a clock that tests move by hand, and a store on it."""

from __future__ import annotations

import pytest

from ratelimit_core import MemoryStore
from ratelimit_core.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> MemoryStore:
    return MemoryStore(clock=clock)
