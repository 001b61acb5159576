"""What the window algorithms share: a rate's limit and its period in microseconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from ratelimit_core.rate import Rate

__all__ = ["Window"]


@dataclass(frozen=True, slots=True)
class Window:
    """A window algorithm's arithmetic for one rate (the fixed window, the sliding log and counter).

    Attributes:
        rate: The rate.
        limit: Units per window.
        period: The window's length in microseconds.
    """

    rate: Rate
    limit: int
    period: int

    @classmethod
    def for_rate(cls, rate: Rate) -> Self:
        return cls(rate, rate.limit, rate.period_us)
