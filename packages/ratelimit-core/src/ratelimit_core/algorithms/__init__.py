"""The algorithms as pure arithmetic: ``step(state, now_us, cost) -> Step``.

No I/O and no clock reads: a store passes the state it holds and the time,
and stores what comes back. ``MemoryStore`` runs these functions; the Redis
store runs the same arithmetic in Lua.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ratelimit_core.algorithms.fixed_window import FixedWindow
from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.algorithms.sliding_window_counter import SlidingWindowCounter
from ratelimit_core.algorithms.sliding_window_log import SlidingWindowLog
from ratelimit_core.algorithms.step import Step
from ratelimit_core.algorithms.token_bucket import TokenBucket
from ratelimit_core.rate import Rate

__all__ = [
    "AlgorithmMath",
    "FixedWindow",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "Step",
    "TokenBucket",
    "applier",
    "math_for",
]


class AlgorithmMath(Protocol):
    """What every algorithm offers for one rate.

    * ``step(state, now_us, cost)`` reads ``state`` (``None`` for a new key) and
      returns a :data:`Step`; it never changes ``state``.
    * A step's write is the new state to keep, unless the algorithm has
      ``apply(state, write) -> new_state`` (the log: it appends in place
      rather than copying); stores call it right after the step.
    * ``charge(state, now_us, cost)`` is the write that consumes ``cost`` units
      whether or not they fit (an overdraft): later steps then wait it out.
    * ``refund(state, now_us, cost, until=None)`` is the write that gives back
      up to ``cost`` consumed units, never beyond full capacity, or ``None``
      when nothing changes. ``until`` (µs) is the time of the hit that consumed
      them plus the ``reset_after`` it reported for this rate: with it, only
      what of those units still weighs is given back (nothing of a window that
      has closed, nothing the bucket has refilled since).
    * ``expires_at(state)`` is the microsecond from which ``state`` is at full
      capacity again and may be dropped.

    A step from the future (a clock that went back) is repaired by ``charge``
    and ``refund`` as by ``step``.
    """

    @property
    def rate(self) -> Rate: ...

    def step(self, state: Any, now: int, cost: int) -> Step[Any]: ...

    def charge(self, state: Any, now: int, cost: int) -> Any: ...

    def refund(self, state: Any, now: int, cost: int, until: int | None = None) -> Any: ...

    def expires_at(self, state: Any) -> int: ...


def applier(math: AlgorithmMath) -> Callable[[Any, Any], Any] | None:
    """``math.apply`` when its writes are carried out by a call, else ``None``."""
    apply: Callable[[Any, Any], Any] | None = getattr(math, "apply", None)
    return apply


_BY_ALGORITHM: dict[Algorithm, Any] = {
    Algorithm.FIXED_WINDOW: FixedWindow,
    Algorithm.SLIDING_WINDOW_LOG: SlidingWindowLog,
    Algorithm.SLIDING_WINDOW_COUNTER: SlidingWindowCounter,
    Algorithm.TOKEN_BUCKET: TokenBucket,
}


def math_for(algorithm: Algorithm, rate: Rate) -> AlgorithmMath:
    """The arithmetic of ``algorithm`` for ``rate``."""
    math: AlgorithmMath = _BY_ALGORITHM[algorithm].for_rate(rate)
    return math
