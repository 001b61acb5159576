"""pytest fixtures for the test suites of apps that use ratelimit; ratelimit-core registers them (``pytest11``).

* ``ratelimit_clock``: a :class:`~ratelimit_core.testing.ManualClock`, starting
  at the wall clock's now, that every store of the app reads for the test.
* ``ratelimit_reset``: every limiter's state forgotten before and after the test.
* ``ratelimit_off``: every limiter admits everything for the test; the run's
  summary says how many tests switched limits off.

They act on the limiters the app has already made: nothing is rebuilt or
injected. Only a test that asks for a fixture is touched (``-p no:ratelimit``
unloads them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ratelimit_core.testing.clock import ManualClock
from ratelimit_core.testing.switches import limits_off, reset_limits, use_clock

__all__ = ["ratelimit_clock", "ratelimit_off", "ratelimit_reset"]

_OFF = pytest.StashKey[list[str]]()


@pytest.fixture
def ratelimit_clock() -> Iterator[ManualClock]:
    """A clock moved by hand (``ratelimit_clock.advance(60)``) that every store of the app reads for the test.

    Stores made during the test read it too; a store given a clock of its own
    keeps it. What the stores held when it ends is forgotten (it is at times
    the real clock has not reached). A ``RedisStore`` decides on the server's
    clock: with one in the app, the fixture raises ``RuntimeError``.
    """
    with use_clock(ManualClock(time.time())) as clock:
        yield clock


@pytest.fixture
def ratelimit_reset() -> Iterator[None]:
    """Every limiter's state forgotten before and after the test (``SqliteStore``: every row of its file)."""
    reset_limits()
    yield
    reset_limits()


@pytest.fixture
def ratelimit_off(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every limiter of the process admits everything, and counts nothing, for the test."""
    request.config.stash.setdefault(_OFF, []).append(request.node.nodeid)
    with limits_off():
        yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say how many tests ran with limits off: never a silent default."""
    switched = config.stash.get(_OFF, [])
    if switched:
        terminalreporter.write_line(f"ratelimit: limits were switched off (ratelimit_off) in {len(switched)} test(s)")
