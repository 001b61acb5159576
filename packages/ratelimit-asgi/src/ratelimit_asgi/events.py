"""What the middleware tells its ``on_decision`` hook: each decision, or store failure, and who made it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from ratelimit_asgi.rules import Rule
from ratelimit_core import Decision, Limiter, StoreError

__all__ = ["DecisionEvent", "DecisionHook", "tell"]

DecisionHook = Callable[[HTTPConnection, "DecisionEvent"], "None | Awaitable[None]"]


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What ``on_decision`` hears: a decision, or a store failure, and who made it.

    Attributes:
        decision: The decision, or ``None`` when the store failed (``error``).
        limiter: The limiter that decided (its ``name`` is a good metrics label).
        rule: The :class:`~ratelimit_asgi.Rule` that chose the limiter, or
            ``None`` for the middleware's own ``limiter``.
        error: The :class:`~ratelimit_core.StoreError` when the store failed.
    """

    decision: Decision | None
    limiter: Limiter
    rule: Rule | None = None
    error: StoreError | None = None


async def tell(hook: DecisionHook, conn: HTTPConnection, event: DecisionEvent) -> None:
    """Call the hook, sync or async."""
    result = hook(conn, event)
    if inspect.isawaitable(result):
        await result
