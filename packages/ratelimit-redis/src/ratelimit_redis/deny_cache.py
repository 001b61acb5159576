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

A ``reset`` or a refund through this store forgets the key's denial, and a
denial whose call was sent before that forgetting (its reply was in flight)
is not kept. What no cache can see: a ``reset`` or a refund made by another
process. Keep ``deny_cache`` off where those must take effect at once
everywhere.
"""

from __future__ import annotations

from collections import OrderedDict

from ratelimit_core import Decision

__all__ = ["DenyCache"]

_US = 1_000_000


class DenyCache:
    """Denials by (limiter namespaces, key digest), the oldest forgotten first past ``size``.

    Times are whole microseconds of a local clock, so what is subtracted is exact.
    """

    __slots__ = ("_denials", "_forgotten", "_size")

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        # key -> (local µs just before the call was sent, retry_after in µs, reset_after in µs, the denial)
        self._denials: OrderedDict[tuple[tuple[str, ...], bytes], tuple[int, int, int, Decision]] = OrderedDict()
        # key -> local µs of its last forget: a denial asked before then may be stale when it arrives
        self._forgotten: OrderedDict[tuple[tuple[str, ...], bytes], int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._denials)

    def get(self, namespaces: tuple[str, ...], tag: bytes, now_us: int) -> Decision | None:
        """The denial Redis would give now to a hit of cost 1, if it is known; else ``None``."""
        cached = self._denials.get((namespaces, tag))
        if cached is None:
            return None
        sent, retry, reset, denial = cached
        elapsed = now_us - sent
        if elapsed >= retry:
            del self._denials[(namespaces, tag)]
            return None
        return denial._replace(retry_after=(retry - elapsed) / _US, reset_after=max(0, reset - elapsed) / _US)

    def put(self, namespaces: tuple[str, ...], tag: bytes, sent_us: int, decision: Decision) -> None:
        """Keep ``decision`` (a denial of cost 1 on a one-rate limiter, asked at local ``sent_us``)."""
        if decision.allowed or decision.retry_after is None:
            return
        key = (namespaces, tag)
        if self._forgotten and key in self._forgotten:
            if sent_us <= self._forgotten[key]:  # asked before a reset or refund: it may be stale
                return
            del self._forgotten[key]
        retry, reset = round(decision.retry_after * _US), round(decision.reset_after * _US)
        self._denials[key] = (sent_us, retry, reset, decision)
        if len(self._denials) > self._size:
            self._denials.popitem(last=False)

    def forget(self, namespaces: tuple[str, ...], tag: bytes, now_us: int) -> None:
        """Drop the key's denial (a reset or a refund at local ``now_us``), and any denial asked before it."""
        key = (namespaces, tag)
        self._denials.pop(key, None)
        self._forgotten[key] = now_us
        self._forgotten.move_to_end(key)
        if len(self._forgotten) > self._size:
            self._forgotten.popitem(last=False)
