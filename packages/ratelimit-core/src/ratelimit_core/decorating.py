"""What ``limiter.limited(...)`` needs in both colours: its arguments checked, a call's key and cost. Pure."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ratelimit_core.checks import check, check_timeout
from ratelimit_core.decision import Decision

__all__ = ["CostOf", "KeyOf", "check_decorated", "check_limited", "denied_message", "key_and_cost"]

#: A key, or a function of the decorated call's arguments (as they were given) that returns it.
KeyOf = str | Callable[..., str]
#: A cost, or a function of the call's arguments that returns it.
CostOf = int | Callable[..., int]


def check_limited(key: KeyOf, cost: CostOf, timeout: float | None) -> None:
    """The decorator's arguments, checked when it is made: a bad one is an error before any call."""
    if not isinstance(key, str) and not callable(key):
        raise TypeError(f"key must be a str or a function of the call's arguments, got {key!r}")
    if not callable(cost):
        check("", cost)
    check_timeout(timeout)


def check_decorated(function: object, asynchronous: bool) -> None:
    """``function`` is of the limiter's colour: ``async def`` for ``ratelimit_core``, ``def`` for ``.sync``."""
    if not callable(function):
        raise TypeError(f"limited() decorates a function, got {function!r}")
    if inspect.iscoroutinefunction(function) != asynchronous:
        colour = "coroutine functions (async def)" if asynchronous else "plain functions (def)"
        other = "ratelimit_core.sync.Limiter" if asynchronous else "ratelimit_core.Limiter"
        raise TypeError(f"this limiter's limited() decorates {colour}; use {other} for {function!r}")


def key_and_cost(key: KeyOf, cost: CostOf, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, int]:
    """The key and cost of one call: given, or computed from the call's arguments."""
    return (
        key if isinstance(key, str) else key(*args, **kwargs),
        cost if isinstance(cost, int) else cost(*args, **kwargs),
    )


def denied_message(decision: Decision) -> str:
    """Why a call or a hold was refused, for its ``RateLimitExceeded``."""
    if decision.retry_after is None:
        return f"no room under {decision.rate}"
    return f"rate limit exceeded (retry after {decision.retry_after!r} s)"
