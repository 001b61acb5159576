"""Warnings about a trouble that recurs: each occurrence counted, logged at most once per interval.

A store that keeps failing, an observer that keeps raising, a key function
that keeps meeting bad input: each would log once per request if it logged at
all naively. One :class:`ThrottledWarning` per trouble counts every occurrence
and logs the first, then at most one more per ``every`` seconds, with the
count so far.
"""

from __future__ import annotations

import logging
import math
import time

__all__ = ["ThrottledWarning"]

_monotonic = time.monotonic  # a module attribute: tests move it


class ThrottledWarning:
    """One recurring trouble's warning: counted each time, logged at most once per ``every`` seconds.

    Args:
        logger: Where the warning goes.
        message: A %-format; its last placeholder (a ``%d``) takes the count so far.
        every: The least number of seconds between two warnings.

    Attributes:
        count: How many times the trouble happened.
    """

    __slots__ = ("_last", "count", "every", "logger", "message")

    def __init__(self, logger: logging.Logger, message: str, every: float) -> None:
        self.logger = logger
        self.message = message
        self.every = every
        self.count = 0
        self._last = -math.inf

    def __call__(self, *args: object) -> None:
        """Count one occurrence; log it, with ``args`` and the count, unless a warning went out lately."""
        self.count += 1
        now = _monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.logger.warning(self.message, *args, self.count)
