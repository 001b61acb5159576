"""What a limiter answers: :class:`Decision`, with a :class:`RateStatus` per rate.

Both are named tuples: immutable, compact, and built in one C call, which
matters because a decision is built on every hit. Fields are read by name.
"""

from __future__ import annotations

from typing import NamedTuple

from ratelimit_core.concurrency import Concurrency
from ratelimit_core.rate import Rate

__all__ = ["Decision", "RateStatus"]


class RateStatus(NamedTuple):
    """Where one rate of a limiter stands after a decision.

    Attributes:
        rate: The rate, or the limiter's :class:`~ratelimit_core.Concurrency`
            cap (its ``remaining`` is the free slots, its ``reset_after`` 0,
            and a denial's ``retry_after`` ``None``: no wait is known to free
            a slot).
        allowed: Whether this rate alone would admit the cost.
        remaining: Whole units left under this rate (after the cost, if the
            decision consumed it), >= 0.
        reset_after: Seconds until this rate is back to full capacity.
        retry_after: ``0.0`` when this rate admits the cost; otherwise seconds
            until it would; ``None`` when it never can (cost above capacity).
    """

    rate: Rate | Concurrency
    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float | None


class Decision(NamedTuple):
    """The answer to one ``hit`` or ``peek`` (or ``charge``, ``refund``).

    ``bool(decision)`` is ``decision.allowed``. Two decisions are equal when
    every field is, every rate's status included; a decision never equals a
    plain tuple.

    Attributes:
        allowed: Whether the cost is (or, for a peek, would be) admitted.
        limit: The limit of the binding rate: the rate that denied (the one
            that keeps the caller waiting longest), or when allowed, the one
            with least room left.
        remaining: Whole units left under the binding rate after this call, >= 0.
            With a token bucket whose ``burst`` exceeds ``limit``, a full bucket
            reports ``burst``.
        reset_after: Seconds until the binding rate is back to full capacity.
        retry_after: ``0.0`` when allowed; when denied, seconds until the same
            cost could be admitted; ``None`` when it never can (cost larger than
            capacity).
        rate: The binding rate (or the concurrency cap, when it binds).
        degraded: ``True`` when the failure policy or a fallback store made
            this decision, not the primary store.
        per_rate: The statuses of a limiter with several rates, in order;
            ``None`` with one rate (read :attr:`statuses` either way).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float | None
    rate: Rate | Concurrency
    degraded: bool = False
    per_rate: tuple[RateStatus, ...] | None = None

    def __bool__(self) -> bool:
        """``allowed``: ``if await limiter.hit(key):`` admits only what the limiter admits."""
        return self.allowed

    def __eq__(self, other: object) -> bool:
        """Equal to a decision whose every field is equal, every rate's status included; never to a tuple."""
        if other.__class__ is not Decision:
            return False
        return self[:7] == other[:7] and self.statuses == other.statuses

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((*self[:7], self.statuses))

    @property
    def statuses(self) -> tuple[RateStatus, ...]:
        """One :class:`RateStatus` per rate of the limiter, in the limiter's order."""
        if self.per_rate is not None:
            return self.per_rate
        return (RateStatus(self.rate, self.allowed, self.remaining, self.reset_after, self.retry_after),)


_new = tuple.__new__


def new_decision(
    allowed: bool,
    limit: int,
    remaining: int,
    reset_after: float,
    retry_after: float | None,
    rate: Rate | Concurrency,
    degraded: bool,
    per_rate: tuple[RateStatus, ...] | None,
) -> Decision:
    """``Decision(...)`` for the hot paths: every field given, in order, already checked."""
    return _new(Decision, (allowed, limit, remaining, reset_after, retry_after, rate, degraded, per_rate))


def new_rate_status(
    rate: Rate | Concurrency, allowed: bool, remaining: int, reset_after: float, retry_after: float | None
) -> RateStatus:
    """``RateStatus(...)`` for the hot paths: every field given, in order."""
    return _new(RateStatus, (rate, allowed, remaining, reset_after, retry_after))
