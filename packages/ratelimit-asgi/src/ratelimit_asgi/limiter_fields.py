"""Limiters as the middleware and the dependency apply them: each policy's header fields, built once."""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ratelimit_asgi.fields import Fields, HeaderMode
from ratelimit_asgi.rules import LimiterResolver
from ratelimit_core import Limiter, Policy, Rate, Store

__all__ = ["MAX_RESOLVED", "FieldsByPolicy", "LimiterFields"]

#: The most distinct limiter policies kept (the first made go first).
MAX_RESOLVED = 1024


@dataclass(frozen=True, slots=True)
class LimiterFields:
    """A limiter as the middleware applies it, with its fields built once."""

    limiter: Limiter
    fields: Fields
    #: The limiter decides without I/O (a memory store): no coroutine per decision.
    nowait: bool
    #: The limiter has a concurrency cap: a slot is held per request.
    capped: bool
    #: The limiter has an observer: decisions are made with the request's context set for it.
    observed: bool


class FieldsByPolicy:
    """Each limiter's fields, built once per policy, for fixed limiters and those chosen per request.

    Bounded: a resolver may make a limiter per request (made cheaply, see
    ``Limiter``), and distinct policies are kept up to :data:`MAX_RESOLVED`.
    A resolver that returns limiters of one policy on different stores made
    them per request with a store of their own each, which limits nothing: that
    is a ``RuntimeError``, not a silent "unlimited".
    """

    __slots__ = ("_headers", "_known")

    def __init__(self, headers: HeaderMode) -> None:
        self._headers = headers
        self._known: OrderedDict[Policy, tuple[Fields, Store]] = OrderedDict()
        Fields("check", (Rate(1, 1),), headers)  # a bad header mode is an error now, not on a request

    def of(self, limiter: Limiter) -> LimiterFields:
        policy = limiter.policy
        known = self._known.get(policy)
        if known is None:
            known = self._known[policy] = (Fields(limiter.name, policy.limits, self._headers), limiter.store)
            if len(self._known) > MAX_RESOLVED:
                self._known.popitem(last=False)
        elif known[1] is not limiter.store:
            raise RuntimeError(
                f"two limiters named {limiter.name!r} with the same rates sit on different stores: a limiter made "
                "per request needs a store made once (store=...), or each gets a store of its own and limits nothing"
            )
        return LimiterFields(limiter, known[0], limiter.nowait, limiter.cap is not None, limiter.observer is not None)

    async def chosen(self, resolver: LimiterResolver, conn: Any) -> LimiterFields | None:
        """The limit ``resolver`` chooses for this connection, or ``None`` (unlimited)."""
        chosen = resolver(conn)
        if inspect.isawaitable(chosen):
            chosen = await chosen
        if chosen is None:
            return None
        if not isinstance(chosen, Limiter):
            raise TypeError(f"the limiter resolver returned {chosen!r}: it must return a Limiter or None")
        return self.of(chosen)
