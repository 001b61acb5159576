"""What a limiter answers: :class:`Decision`, with a :class:`RateStatus` per rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from ratelimit_core.rate import Rate

__all__ = ["Decision", "RateStatus"]

_T = TypeVar("_T")


def _fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen slotted dataclass, ~3x cheaper than its own.

    A frozen dataclass's generated ``__init__`` sets each field through
    ``object.__setattr__``; on the per-decision path that costs more than the
    decision itself. This builds the instance as a plain slotted twin with the
    same slots (same memory layout) and then retypes it: the result is an
    ordinary, immutable ``cls`` instance. Callers pass every field, in order,
    already validated.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    source = f"""
class Twin:
    __slots__ = slots

def new_{cls.__name__.lower()}({", ".join(names)}):
    obj = new(Twin)
    {"; ".join(f"obj.{n} = {n}" for n in names)}
    obj.__class__ = cls
    return obj
"""
    namespace: dict[str, Any] = {"slots": vars(cls)["__slots__"], "cls": cls, "new": object.__new__}
    exec(source, namespace)  # noqa: S102 - fixed source generated from the dataclass's own fields
    build: Callable[..., _T] = namespace[f"new_{cls.__name__.lower()}"]
    return build


@dataclass(frozen=True, slots=True)
class RateStatus:
    """Where one rate of a limiter stands after a decision.

    Attributes:
        rate: The rate.
        allowed: Whether this rate alone would admit the cost.
        remaining: Whole units left under this rate (after the cost, if the
            decision consumed it), >= 0.
        reset_after: Seconds until this rate is back to full capacity.
        retry_after: ``0.0`` when this rate admits the cost; otherwise seconds
            until it would; ``None`` when it never can (cost above capacity).
    """

    rate: Rate
    allowed: bool
    remaining: int
    reset_after: float
    retry_after: float | None


@dataclass(frozen=True, slots=True, eq=False)
class Decision:
    """The answer to one ``hit`` or ``peek``.

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
        rate: The binding rate.
        degraded: ``True`` when the failure policy or a fallback store made
            this decision, not the primary store.
        statuses: One :class:`RateStatus` per rate of the limiter, in order.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float | None
    rate: Rate
    degraded: bool = False
    # None when the limiter has one rate: its status is derived on demand.
    _statuses: tuple[RateStatus, ...] | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        """``allowed``: ``if await limiter.hit(key):`` admits only what the limiter admits."""
        return self.allowed

    def __eq__(self, other: object) -> bool:
        """Equal when every field is, and every rate's status too."""
        if other.__class__ is not Decision:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def _compared(self) -> tuple[object, ...]:
        return (
            self.allowed,
            self.limit,
            self.remaining,
            self.reset_after,
            self.retry_after,
            self.rate,
            self.degraded,
            self.statuses,
        )

    @property
    def statuses(self) -> tuple[RateStatus, ...]:
        """One :class:`RateStatus` per rate of the limiter, in the limiter's order."""
        if self._statuses is not None:
            return self._statuses
        return (RateStatus(self.rate, self.allowed, self.remaining, self.reset_after, self.retry_after),)


new_decision = _fast_constructor(Decision)
new_rate_status = _fast_constructor(RateStatus)
