"""What a test switches for every limiter of the process at once: the clock, a reset, the limits themselves.

The app's limiters are found where they live (:mod:`ratelimit_core.tracking`),
so a test needs no handle on them and the app is not rebuilt.
"""

from __future__ import annotations

import gc
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from ratelimit_core import tracking
from ratelimit_core.testing.clock import ManualClock
from ratelimit_core.testing.unlimited import SyncUnlimitedStore, UnlimitedStore
from ratelimit_core.wrapper import Wrapping

__all__ = ["LimitsOffWarning", "limits_off", "reset_limits", "use_clock"]

logger = logging.getLogger("ratelimit_core")

_clocks: list[ManualClock] = []  # the clock in use, while one is


class LimitsOffWarning(UserWarning):
    """Limits were switched off outside a test run (``limits_off()`` with no test running)."""


def use_clock(clock: ManualClock) -> Any:
    """While in the block, every store of every limiter reads ``clock``; their state is forgotten at its end.

    Stores made in the block follow it too. A store given a clock of its own
    keeps it. State written on ``clock`` is dropped at the end: it is at times
    the real clock has not reached.

    Raises:
        RuntimeError: a store keeps its own time (``RedisStore`` decides on the
            server's clock), or a clock is already in use.
    """
    return _using(clock)


@contextmanager
def _using(clock: ManualClock) -> Iterator[ManualClock]:
    if _clocks:
        raise RuntimeError(f"a test clock is already in use ({_clocks[0]!r}): one clock at a time")
    moved: dict[int, Any] = {}

    def follow(limiter: Any) -> None:
        stores = _stores(limiter, "_follow_clock", _CLOCK_REFUSED)
        for store in stores:
            if store._follow_clock(clock):
                moved[id(store)] = store

    _every_store("_follow_clock", _CLOCK_REFUSED)  # every store can follow, before any does
    _clocks.append(clock)
    try:
        for limiter in tracking.live():
            follow(limiter)
        tracking.watch(follow)
        try:
            yield clock
        finally:
            tracking.watch(None, stop=follow)
    finally:
        _clocks.clear()
        for store in moved.values():
            store._forget_all()
            store._follow_clock(None)


def reset_limits() -> None:
    """Forget the state of every limiter of the process: every key of every store they use.

    ``SqliteStore`` forgets every row of its file (every process's limits).

    Raises:
        RuntimeError: a store cannot forget everything at once (a
            ``RedisStore``: flush its database yourself).
    """
    for store in _every_store("_forget_all", _RESET_REFUSED):
        store._forget_all()


def limits_off() -> Any:
    """While in the block, every limiter of the process admits everything (those made in the block too).

    Hits, waits, reservations, caps and blocks are all admitted, and nothing
    is counted; at the end each limiter decides with its own store again. For
    tests only: used when no test is running (pytest sets
    ``PYTEST_CURRENT_TEST``), it warns (:class:`LimitsOffWarning`) and logs an
    error-level line, once per use.
    """
    return _off()


@contextmanager
def _off() -> Iterator[None]:
    if "PYTEST_CURRENT_TEST" not in os.environ:
        message = "rate limits are switched off outside a test run: every limiter admits everything"
        warnings.warn(message, LimitsOffWarning, stacklevel=4)
        logger.error("%s (ratelimit_core.testing.limits_off)", message)
    saved: WeakKeyDictionary[Any, tuple[Any, ...]] = WeakKeyDictionary()

    def off(limiter: Any) -> None:
        saved[limiter] = limiter._unlimit(UnlimitedStore() if limiter.asynchronous else SyncUnlimitedStore())

    for limiter in tracking.live():
        off(limiter)
    tracking.watch(off)
    try:
        yield
    finally:
        tracking.watch(None, stop=off)
        for limiter, wiring in list(saved.items()):
            limiter._rewire(wiring)


_CLOCK_REFUSED = (
    "keeps its own time, which a test's clock cannot move (a RedisStore decides on the Redis server's clock): "
    "give the app a MemoryStore or SqliteStore in tests"
)
_RESET_REFUSED = (
    "cannot forget every key at once: flush it yourself (a Redis test database: FLUSHDB), "
    "or give the app a MemoryStore or SqliteStore in tests"
)


def _every_store(hook: str, refused: str) -> list[Any]:
    """Each store of every live limiter once; ``RuntimeError`` for one without ``hook``.

    A limiter that is garbage but not yet collected (in a reference cycle) may
    hold such a store: the refusal is only raised if it survives a collection.
    """
    try:
        return _stores_of(tracking.live(), hook, refused)
    except RuntimeError:
        gc.collect()
        return _stores_of(tracking.live(), hook, refused)


def _stores_of(limiters: list[Any], hook: str, refused: str) -> list[Any]:
    seen: dict[int, Any] = {}
    for limiter in limiters:
        for store in _stores(limiter, hook, refused):
            seen.setdefault(id(store), store)
    return list(seen.values())


def _stores(limiter: Any, hook: str, refused: str) -> list[Any]:
    """The stores under ``limiter`` that have ``hook`` (wrappers looked through); ``RuntimeError`` if one lacks it."""
    found = []
    for given in limiter._stores():
        store = given
        while store is not None:
            if hasattr(store, hook):
                found.append(store)
            elif not isinstance(store, Wrapping):
                raise RuntimeError(f"{limiter!r}: {store!r} {refused}")
            store = store.store if isinstance(store, Wrapping) else None
    return found
