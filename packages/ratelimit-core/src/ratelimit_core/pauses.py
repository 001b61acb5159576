"""How long a waiter sleeps before it asks the store again: the same answer for both colours. Pure.

``Limiter.wait`` and an ``acquire`` that waits (coroutines or blocking calls)
ask the store, then ask one of these what to do with the answer: stop (it
is final), sleep so long, or give up.
"""

from __future__ import annotations

import math

from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision
from ratelimit_core.errors import RateLimitExceeded

__all__ = ["POLL_FIRST", "POLL_MAX", "SlotPauses", "wait_pause"]

#: How often a waiter for a full cap asks again (seconds, doubling), when no slot is freed in its process.
POLL_FIRST, POLL_MAX = 0.005, 0.1


def wait_pause(decision: Decision, cost: int, left: float | None) -> float | None:
    """For ``Limiter.wait``: ``None`` once admitted, else the seconds to sleep (``left``: what the timeout leaves).

    Raises:
        RateLimitExceeded: the cost can never fit, or not within what is left.
    """
    if decision.allowed:
        return None
    if decision.retry_after is None:
        raise RateLimitExceeded(decision, f"cost {cost} exceeds the capacity of {decision.rate}")
    if left is not None and decision.retry_after > left:
        raise RateLimitExceeded(decision)
    return decision.retry_after


class SlotPauses:
    """For an ``acquire`` that waits: ``None`` for a final answer, else the seconds to sleep.

    A cap knows no time at which a slot frees. A store local to the process
    (``local``) frees one only when a holder here releases it (which wakes the
    waiter) or when a lease lapses; another store's slot may be freed by
    another process, found by asking again, backing off from
    :data:`POLL_FIRST` to :data:`POLL_MAX`.
    """

    __slots__ = ("_cap", "_local", "_poll", "_timeout")

    def __init__(self, cap: Concurrency, local: bool, timeout: float | None) -> None:
        self._cap, self._local, self._timeout, self._poll = cap, local, timeout, POLL_FIRST

    def __call__(self, decision: Decision, left: float | None) -> float | None:
        if decision.allowed or self._timeout == 0:
            return None
        left = math.inf if left is None else left
        wait = decision.retry_after
        if wait is None:  # the cap is full (else a rate that can never admit the cost)
            if decision.rate is not self._cap or left <= 0:
                return None
            wait = self._cap.lease if self._local else self._poll
            self._poll = min(self._poll * 2, POLL_MAX)
            return min(wait, left)
        return None if wait > left else wait
