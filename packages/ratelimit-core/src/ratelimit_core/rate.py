"""Rates: how many units per how long, parsed from text such as ``"100/minute"``."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ratelimit_core.concurrency import Concurrency

__all__ = ["Rate", "parse_limits", "parse_rates"]

MICROSECONDS = 1_000_000

_UNITS: dict[str, float] = {
    name: seconds
    for seconds, names in (
        (0.001, ("ms", "msec", "millisecond", "milliseconds")),
        (1.0, ("s", "sec", "secs", "second", "seconds")),
        (60.0, ("m", "min", "mins", "minute", "minutes")),
        (3600.0, ("h", "hr", "hrs", "hour", "hours")),
        (86400.0, ("d", "day", "days")),
    )
    for name in names
}

# The unit names str() prefers, longest period first.
_NAMED_PERIODS = ((86400.0, "day"), (3600.0, "hour"), (60.0, "minute"), (1.0, "second"))

_RATE_RE = re.compile(
    r"""^\s*
    (?P<limit>\d+)\s*
    (?:/|\bper\b)\s*
    (?P<count>\d+(?:\.\d+)?(?:e[-+]?\d+)?)?\s*
    (?P<unit>[a-z]+)
    (?:\s+burst\s*[= ]\s*(?P<burst>\d+))?
    \s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def _finite(value: float) -> bool:
    """``math.isfinite``, and ``False`` for an int too large to be a float (``10**400``)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` units per ``period`` seconds.

    Args:
        limit: Units admitted per period, an int >= 1.
        period: Length of the period in seconds: finite, > 0, at least one
            microsecond (time is counted in whole microseconds).
        burst: Token bucket only: how many units may be taken at one instant
            (the bucket's capacity). ``None`` means ``limit``.

    Raises:
        ValueError: naming the bad value.
    """

    limit: int
    period: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.limit) or self.limit < 1:
            raise ValueError(f"a rate's limit must be an int >= 1, got {self.limit!r}")
        if (
            isinstance(self.period, bool)
            or not isinstance(self.period, int | float)
            or not _finite(self.period)
            or self.period <= 0
        ):
            raise ValueError(f"a rate's period must be a finite number of seconds > 0, got {self.period!r}")
        if round(self.period * MICROSECONDS) < 1:
            raise ValueError(f"a rate's period must be at least one microsecond, got {self.period!r}")
        if self.burst is not None and (not _is_int(self.burst) or self.burst < 1):
            raise ValueError(f"a rate's burst must be an int >= 1 or None, got {self.burst!r}")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """Read one rate: ``10/second``, ``10/s``, ``100 per minute``, ``5/30s``, ``1000/1h``.

        A trailing ``burst=N`` (or ``burst N``) sets the token bucket capacity.

        Raises:
            ValueError: naming ``text`` when it is not a rate.
        """
        match = _RATE_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a rate: {text!r} (expected e.g. '10/second', '100 per minute', '5/30s')")
        unit = _UNITS.get(match["unit"].lower())
        if unit is None:
            raise ValueError(f"not a rate: {text!r} (unknown unit {match['unit']!r})")
        count = float(match["count"]) if match["count"] else 1.0
        period = count * unit
        burst = int(match["burst"]) if match["burst"] else None
        try:
            return cls(int(match["limit"]), int(period) if period.is_integer() else period, burst)
        except ValueError as exc:
            raise ValueError(f"not a valid rate: {text!r}: {exc}") from None

    @property
    def capacity(self) -> int:
        """Units that can be taken at once: ``burst`` when set, else ``limit``."""
        return self.limit if self.burst is None else self.burst

    @property
    def period_us(self) -> int:
        """The period in whole microseconds."""
        return round(self.period * MICROSECONDS)

    def __str__(self) -> str:
        for seconds, name in _NAMED_PERIODS:
            if self.period == seconds:
                text = f"{self.limit}/{name}"
                break
        else:
            text = f"{self.limit}/{self.period:g}s"
            if Rate.parse(text).period != self.period:  # too many digits for %g
                text = f"{self.limit}/{self.period!r}s"
        return text if self.burst is None else f"{text} burst={self.burst}"


def parse_rates(text: str | Rate | Sequence[str | Rate]) -> tuple[Rate, ...]:
    """Read one or several rates.

    Accepts a :class:`Rate`, a string (rates separated by ``;`` or ``,``), or a
    list or tuple of either.

    Raises:
        ValueError: naming the text that is not a rate, or when there is none.
    """
    if isinstance(text, Rate):
        return (text,)
    if isinstance(text, str):
        return _parse_text(text)
    if isinstance(text, Sequence):
        parts: list[str | Rate] = list(text)
    else:
        raise ValueError(f"rates must be a string, a Rate or a sequence of them, got {text!r}")
    rates = tuple(p if isinstance(p, Rate) else Rate.parse(p) for p in parts)
    if not rates:
        raise ValueError(f"no rate in {text!r}")
    return rates


Limits = tuple[tuple[Rate, ...], Concurrency | None]


def parse_limits(
    spec: str | Rate | Concurrency | Sequence[str | Rate | Concurrency],
) -> Limits:
    """Read rates and at most one concurrency cap: ``"100/minute; 2 concurrent"``.

    Accepts what :func:`parse_rates` does, and :class:`Concurrency` (or its
    text, ``"2 concurrent"``) among the rates. Returns the rates and the cap
    (``None`` when there is none).

    Raises:
        ValueError: naming the text that is neither, when there is nothing, or
            when there are two caps.
    """
    if isinstance(spec, Rate):
        return (spec,), None
    if isinstance(spec, Concurrency):
        return (), spec
    if isinstance(spec, str):
        return _parse_limits_text(spec)
    if not isinstance(spec, Sequence):
        raise ValueError(f"rates must be a string, a Rate, a Concurrency or a sequence of them, got {spec!r}")
    return _split([_one_limit(part) for part in spec], spec)


def _one_limit(part: str | Rate | Concurrency) -> Rate | Concurrency:
    if isinstance(part, Rate | Concurrency):
        return part
    if isinstance(part, str) and "concurrent" in part.lower():
        return Concurrency.parse(part)
    return Rate.parse(part)


def _split(limits: list[Rate | Concurrency], spec: object) -> Limits:
    caps = [limit for limit in limits if isinstance(limit, Concurrency)]
    rates = tuple(limit for limit in limits if isinstance(limit, Rate))
    if len(caps) > 1:
        raise ValueError(f"at most one concurrency cap per limiter, got {[str(c) for c in caps]}")
    if not limits:
        raise ValueError(f"no rate in {spec!r}")
    return rates, caps[0] if caps else None


@lru_cache(maxsize=1024)
def _parse_limits_text(text: str) -> Limits:
    return _split([_one_limit(p) for p in re.split(r"[;,]", text) if p.strip()], text)


@lru_cache(maxsize=1024)  # limiters made per request (a tier's rates) parse each text once
def _parse_text(text: str) -> tuple[Rate, ...]:
    rates = tuple(Rate.parse(p) for p in re.split(r"[;,]", text) if p.strip())
    if not rates:
        raise ValueError(f"no rate in {text!r}")
    return rates
