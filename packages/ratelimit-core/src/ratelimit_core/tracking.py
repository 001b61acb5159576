"""Every limiter alive in this process, weakly held: what ``ratelimit_core.testing``'s switches reach.

A test can move the clock of an app's stores, forget their state, or switch
its limits off without rebuilding the app, because the app's limiters are
found here. A limiter is added when it is made; nothing is done per decision.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from weakref import WeakSet

__all__ = ["live", "made", "watch"]

_lock = threading.Lock()
_live: WeakSet[Any] = WeakSet()
#: Called with each limiter made while a switch is on, so that the switch applies to it too.
_watchers: list[Callable[[Any], None]] = []


def made(limiter: Any) -> None:
    """Keep ``limiter`` (weakly), and let the switches that are on apply to it."""
    with _lock:
        _live.add(limiter)
        watchers = list(_watchers)
    for watcher in watchers:
        watcher(limiter)


def live() -> list[Any]:
    """The limiters alive now, in no particular order."""
    with _lock:
        return list(_live)


def watch(watcher: Callable[[Any], None] | None, *, stop: Callable[[Any], None] | None = None) -> None:
    """Start calling ``watcher`` for each limiter made (or, with ``stop``, stop calling that one)."""
    with _lock:
        if watcher is not None:
            _watchers.append(watcher)
        if stop is not None:
            _watchers.remove(stop)
