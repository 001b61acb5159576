"""What both colours of transport share around one exchange: the body kept for ``settle``, errors and logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ratelimit_core import Concurrency, Decision, Rate, RateLimitExceeded

__all__ = ["MAX_BODY", "Body", "Settle", "exceeded", "log_store_failure", "settled"]

logger = logging.getLogger("ratelimit_client")

#: The most bytes of a response body kept for ``settle``; past it the reservation stays at its estimate.
MAX_BODY = 16 * 1024 * 1024
#: A ``settle`` function: the finished response (its body read) -> the units it really cost.
Settle = Callable[[Any], int]

_last_warning = 0.0


class Body:
    """The chunks of a response body, kept for ``settle`` (up to :data:`MAX_BODY` bytes)."""

    __slots__ = ("_chunks", "_size")

    def __init__(self, keep: bool) -> None:
        self._chunks: list[bytes] | None = [] if keep else None
        self._size = 0

    def add(self, chunk: bytes) -> None:
        if self._chunks is None:
            return
        self._size += len(chunk)
        if self._size > MAX_BODY:
            self._chunks = None  # too large to keep: the estimate stands
            logger.warning("a response body passed %d bytes: its reservation stays at the estimate", MAX_BODY)
        else:
            self._chunks.append(chunk)

    def cost(self, settle: Settle | None, response: Any, request: Any) -> int | None:
        """What ``settle`` says the exchange cost, given an ``httpx.Response`` with the whole body; ``None``:
        keep the estimate (no ``settle``, a body too large, or see :func:`settled`)."""
        if settle is None or self._chunks is None:
            return None
        finished = type(response)(
            response.status_code, headers=response.headers, content=b"".join(self._chunks), request=request
        )
        return settled(settle, finished)


def settled(settle: Settle, response: Any) -> int | None:
    """``settle(response)``, the units the exchange cost; ``None`` (the estimate stands) when it raises or gives
    no int >= 0, which is logged."""
    try:
        units = settle(response)
    except Exception:
        logger.exception("settle= raised: the reservation stays at its estimate")
        return None
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        logger.error("settle= gave %r, not an int >= 0: the reservation stays at its estimate", units)
        return None
    return units


def exceeded(wait: float | None, why: str, limit: Rate | Concurrency) -> RateLimitExceeded:
    """The error of a request that is not sent under ``limit``: its key is paused for ``wait`` more seconds
    (``None``: unknown)."""
    decision = Decision(False, limit.limit, 0, wait or 0.0, wait, limit, False, None)
    return RateLimitExceeded(decision, why)


def log_store_failure(exc: Exception) -> None:
    """A store failure while learning from a response: the response goes on; warned at most once a minute."""
    global _last_warning  # noqa: PLW0603 - one clock for the process's warnings
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        logger.warning("the store failed to keep what a response said (kept in this process only): %s", exc)
