"""A concurrency cap: at most ``limit`` holders of a key at once, each on a lease.

A cap goes in a limiter's rates beside ordinary rates
(``Limiter(["100/minute", Concurrency(2)])``, or in text ``"2 concurrent"``).
A holder takes a slot with ``limiter.acquire`` and frees it when its block
ends. Each slot is a lease: it lapses ``lease`` seconds after it was taken or
last renewed, so a holder that died (a killed worker, a lost connection) does
not keep it; a live holder renews its lease while it runs.

Slots are named by their holder (a random token), so freeing or renewing a
slot that lapsed, or freeing one twice, never touches another holder's.

The arithmetic here is the one every store runs on a key's slots: a mapping
from holder to the microsecond its lease lapses. A slot counts while
``now < lapse``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["Concurrency", "Slots", "live", "renew", "room", "take", "taken"]

#: A key's slots: holder -> the µs its lease lapses (the store's clock).
Slots = dict[str, int]

_TEXT = re.compile(
    r"^\s*(?P<limit>\d+)\s+concurrent(?:\s+lease\s*[= ]\s*(?P<lease>\d+(?:\.\d+)?)\s*s?)?\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` holders of a key at once.

    Args:
        limit: Slots per key, an int >= 1.
        lease: Seconds a slot lasts unless its holder renews it (a running
            holder renews every third of it). A holder that dies keeps its
            slot at most this long.

    Raises:
        ValueError: a limit that is not an int >= 1, or a lease that is not a
            finite number of seconds of at least a millisecond.
    """

    limit: int
    lease: float = field(default=60.0, kw_only=True)

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"a concurrency cap's limit must be an int >= 1, got {self.limit!r}")
        lease = self.lease
        if isinstance(lease, bool) or not isinstance(lease, int | float) or not math.isfinite(lease) or lease < 0.001:
            raise ValueError(f"a concurrency cap's lease must be a finite number of seconds >= 0.001, got {lease!r}")
        if lease > 10**9:
            raise ValueError(f"a concurrency cap's lease must be at most 10**9 seconds, got {lease!r}")

    @classmethod
    def parse(cls, text: str) -> Concurrency:
        """``"2 concurrent"``, or with a lease, ``"2 concurrent lease=30s"``."""
        match = _TEXT.match(text)
        if match is None:
            raise ValueError(f"not a concurrency cap: {text!r} (try '2 concurrent' or '2 concurrent lease=30s')")
        if match["lease"] is None:
            return cls(int(match["limit"]))
        lease = float(match["lease"])
        return cls(int(match["limit"]), lease=int(lease) if lease.is_integer() else lease)

    @property
    def lease_us(self) -> int:
        """The lease in whole microseconds."""
        return round(self.lease * 1_000_000)

    @property
    def capacity(self) -> int:
        """Holders at once: ``limit`` (named as a rate's, for code that reads both)."""
        return self.limit

    def __str__(self) -> str:
        text = f"{self.limit} concurrent"
        return text if self.lease == 60.0 else f"{text} lease={self.lease:g}s"


def live(slots: Slots, now: int) -> Slots:
    """Drop the slots whose lease lapsed by ``now`` (in place); ``slots``."""
    lapsed = [holder for holder, lapse in slots.items() if lapse <= now]
    for holder in lapsed:
        del slots[holder]
    return slots


def take(slots: Slots, cap: Concurrency, holder: str, now: int) -> None:
    """Give ``holder`` a slot until ``now + lease`` (``slots`` holds live slots only, and has room)."""
    slots[holder] = now + cap.lease_us


def renew(slots: Slots, cap: Concurrency, holder: str, now: int) -> bool:
    """Extend ``holder``'s lease to ``now + lease``; ``False`` when it holds no live slot (it lapsed, or was freed)."""
    if slots.get(holder, now) <= now:
        return False
    slots[holder] = now + cap.lease_us
    return True


def room(cap: Concurrency, held: int) -> tuple[bool, int, int, int | None]:
    """The cap's outcome (see :data:`ratelimit_core.Outcome`) for one more holder, with ``held`` live slots.

    Free slots are ``remaining``. No time is known at which a cap is free
    again, so ``reset_after`` is 0, and a denial's ``retry_after`` is ``None``
    (no wait is known to free a slot).
    """
    free = cap.limit - held
    if free > 0:
        return True, free, 0, 0
    return False, 0, 0, None


def taken(cap: Concurrency, held: int) -> tuple[bool, int, int, int | None]:
    """The cap's outcome after an admitted acquire took its slot (``held`` counts it)."""
    return True, cap.limit - held, 0, 0
