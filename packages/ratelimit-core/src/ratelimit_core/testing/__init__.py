"""Helpers for tests: a clock moved by hand, a store whose backend is down, and the store contract as tests.

* :class:`ManualClock`: give it to a store (``MemoryStore(clock=clock)``) and
  move time with ``clock.advance(seconds)`` instead of sleeping.
* :class:`LoopTime`: the running event loop's time on such a clock, jumping
  to each timer instead of sleeping, for code that waits.
* :func:`use_clock`, :func:`reset_limits`, :func:`limits_off`: switches a
  test flips for every limiter of the process without rebuilding the app
  (the pytest fixtures ``ratelimit_clock``, ``ratelimit_reset`` and
  ``ratelimit_off`` use them; docs/testing.md).
* :class:`FailingStore`: every call raises, for what your code does when the
  store fails.
* :class:`StoreTests`: subclass it to check a store against the contract
  (docs/stores.md); :mod:`ratelimit_core.testing.timelines` drives a store and
  ``MemoryStore`` through the same random timeline.
* :class:`SyncStoreTests`: the same suite for a blocking store
  (``ratelimit_core.sync``); :mod:`ratelimit_core.testing.colours` shows the
  sync colour through the async one, so one suite checks both.

Standard library only: nothing here imports pytest (the fixtures live in
``ratelimit_core.testing.pytest_plugin``, which pytest loads).
"""

from ratelimit_core.testing.clock import ManualClock
from ratelimit_core.testing.colours import SyncStoreTests
from ratelimit_core.testing.failing import FailingStore
from ratelimit_core.testing.looptime import LoopTime
from ratelimit_core.testing.suite import StoreTests
from ratelimit_core.testing.switches import LimitsOffWarning, limits_off, reset_limits, use_clock

__all__ = [
    "FailingStore",
    "LimitsOffWarning",
    "LoopTime",
    "ManualClock",
    "StoreTests",
    "SyncStoreTests",
    "limits_off",
    "reset_limits",
    "use_clock",
]
