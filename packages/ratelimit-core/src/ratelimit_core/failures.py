"""What a limiter answers when its store fails: a fallback store, then its ``on_error``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, NoReturn

from ratelimit_core.decision import Decision, new_decision, new_rate_status
from ratelimit_core.errors import StoreError
from ratelimit_core.policy import Policy
from ratelimit_core.store import Decide
from ratelimit_core.throttled import ThrottledWarning

__all__ = ["BACKEND_ERRORS", "DEGRADED_RETRY_AFTER", "ON_ERROR", "Failures", "OnError", "raise_store_error"]

OnError = Literal["raise", "allow", "deny"]
ON_ERROR: tuple[OnError, ...] = ("raise", "allow", "deny")

#: What a store raises when its backend fails: these, and only these, go to the
#: failure policy. Anything else is a bug (in a store, or in the caller) and propagates.
BACKEND_ERRORS: tuple[type[Exception], ...] = (StoreError, OSError, TimeoutError)

#: How long a denial made by ``on_error="deny"`` asks the caller to wait.
DEGRADED_RETRY_AFTER = 1.0
#: At most one warning per this many seconds while the store keeps failing.
_WARN_EVERY = 10.0

logger = logging.getLogger("ratelimit_core")


class Failures:
    """A limiter's failure policy: ask ``fallback`` (when there is one), then answer by ``on_error``.

    Every answer here is degraded (``decision.degraded``). A warning is logged
    at most every ten seconds while the store keeps failing.
    """

    __slots__ = ("_warning", "fallback", "on_error", "policy")

    def __init__(self, policy: Policy, on_error: OnError, fallback: Any) -> None:
        """``fallback``: a store of the limiter's colour (coroutines, or blocking calls), or ``None``."""
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.policy = policy
        self.on_error: OnError = on_error
        self.fallback = fallback
        self._warning = ThrottledWarning(
            logger, "rate limit store failed (%r); on_error=%s, fallback=%r (%d failures so far)", _WARN_EVERY
        )

    async def degraded(self, action: str, key: str, cost: int, exc: Exception) -> Decision:
        """The answer to ``action`` (hit, peek, charge or refund) after the store failed with ``exc``."""
        self.warn(exc)
        if self.fallback is not None:
            try:
                method: Callable[[Policy, str, int], Awaitable[Decision]] = getattr(self.fallback, action)
                return (await method(self.policy, key, cost))._replace(degraded=True)
            except BACKEND_ERRORS as fallback_exc:
                exc = fallback_exc
        return self.by_policy(exc)

    def degraded_now(self, fallback: Decide | None, key: str, cost: int, exc: Exception) -> Decision:
        """:meth:`degraded` as a blocking call: ``fallback(key, cost)`` asks the fallback store (its bound decide,
        or a blocking store's operation).
        """
        self.warn(exc)
        if fallback is not None:
            try:
                return fallback(key, cost)._replace(degraded=True)
            except BACKEND_ERRORS as fallback_exc:
                exc = fallback_exc
        return self.by_policy(exc)

    def by_policy(self, exc: Exception) -> Decision:
        """What ``on_error`` answers when no store could decide: every rate full, or empty for a while."""
        if self.on_error == "raise":
            raise_store_error(exc)
        rates = self.policy.limits
        rate, several = rates[0], len(rates) > 1
        if self.on_error == "allow":
            statuses = tuple(new_rate_status(r, True, r.capacity, 0.0, 0.0) for r in rates) if several else None
            return new_decision(True, rate.limit, rate.capacity, 0.0, 0.0, rate, True, statuses)
        statuses = tuple(new_rate_status(r, False, 0, 0.0, DEGRADED_RETRY_AFTER) for r in rates) if several else None
        return new_decision(False, rate.limit, 0, 0.0, DEGRADED_RETRY_AFTER, rate, True, statuses)

    def warn(self, exc: Exception) -> None:
        """Count a failure; log it unless a warning went out in the last ten seconds."""
        self._warning(exc, self.on_error, self.fallback)


def raise_store_error(exc: Exception) -> NoReturn:
    """``exc`` as a ``StoreError`` (itself when it is one), its cause kept."""
    if isinstance(exc, StoreError):
        raise exc
    raise StoreError(f"rate limit store failed: {exc!r}") from exc
