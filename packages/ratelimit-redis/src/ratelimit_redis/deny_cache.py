"""Local answers for keys Redis has just denied, so a client hammering a denied key costs no round trip.

Exact by construction: it answers only where Redis's answer is known in
advance. A limiter with one rate that denied a hit of cost 1 at server time
``T`` with ``retry_after`` ``r`` keeps denying every hit of cost 1 until
``T + r`` (a denial writes nothing, so nothing changes but time): its
``remaining`` stays 0, and its ``retry_after`` and ``reset_after`` fall by the
time that passed. The cache measures that time from just before the call was
sent, which is never later than ``T``, so it stops answering a little early
rather than late. (With several rates, or another cost, the other rates'
figures move in ways only the state shows; those decisions always go to Redis.)

What no cache can see: a ``reset`` or a refund made by another process. Keep
``deny_cache`` off where those must take effect at once everywhere.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import replace

from ratelimit_core import Decision

__all__ = ["DenyCache"]


class DenyCache:
    """Denials by (limiter namespaces, key digest), the oldest forgotten first past ``size``."""

    __slots__ = ("_denials", "_size")

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        # key -> (local time just before the call was sent, the denial)
        self._denials: OrderedDict[tuple[tuple[str, ...], bytes], tuple[float, Decision]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._denials)

    def get(self, namespaces: tuple[str, ...], tag: bytes, now: float) -> Decision | None:
        """The denial Redis would give now to a hit of cost 1, if it is known; else ``None``."""
        cached = self._denials.get((namespaces, tag))
        if cached is None:
            return None
        sent, denial = cached
        elapsed = now - sent
        assert denial.retry_after is not None  # noqa: S101 - only such denials are kept
        if elapsed >= denial.retry_after:
            del self._denials[(namespaces, tag)]
            return None
        return replace(
            denial,
            retry_after=_us_ceil(denial.retry_after - elapsed),
            reset_after=_us_ceil(max(0.0, denial.reset_after - elapsed)),
        )

    def put(self, namespaces: tuple[str, ...], tag: bytes, sent: float, decision: Decision) -> None:
        """Keep ``decision`` (a denial of cost 1 on a one-rate limiter, asked at local time ``sent``)."""
        if decision.allowed or decision.retry_after is None:
            return
        self._denials[(namespaces, tag)] = (sent, decision)
        if len(self._denials) > self._size:
            self._denials.popitem(last=False)

    def forget(self, namespaces: tuple[str, ...], tag: bytes) -> None:
        self._denials.pop((namespaces, tag), None)


def _us_ceil(seconds: float) -> float:
    return math.ceil(seconds * 1_000_000) / 1_000_000
