"""Costs settled after the response: count by outcome, a cost from a header, or one the endpoint reports.

A request is admitted by a hit of its cost, at once, so concurrent requests
cannot overshoot. When the response is known, what it really cost is settled
(:meth:`ratelimit_core.Reservation.settle`): the difference is refunded, or
charged. ``count=`` decides at the response's start; ``settle=`` when the
response has finished (its last byte, for a streamed one), or when the app
raised or the client went away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message

from ratelimit_asgi.fields import Header, with_fields
from ratelimit_core import Decision, Reservation, StoreError

if TYPE_CHECKING:
    from ratelimit_asgi.exchange import Exchange

__all__ = ["MAX_HEADER_COST", "Completion", "Reserved", "Settle", "from_header", "report_cost", "reported"]

#: What an async limiter's ``reserve`` gives: its ``settle`` returns a coroutine of the decision.
Reserved = Reservation[Coroutine[Any, Any, Decision]]

logger = logging.getLogger("ratelimit_asgi")

#: The largest cost :func:`from_header` accepts; a longer value settles at the default.
MAX_HEADER_COST = 10**18 - 1
_MAX_DIGITS = len(str(MAX_HEADER_COST))

#: Where a request's usage is kept in the ASGI scope (read by :func:`report_cost`).
USAGE = "ratelimit.usage"
#: Settlements under way, referenced until they end.
_SETTLING: set[asyncio.Future[None]] = set()


@dataclass(frozen=True, slots=True)
class Completion:
    """What is known of a request when its cost is settled.

    Attributes:
        status: The response's status; 500 when the app raised, or ended
            without starting a response.
        headers: The response's headers as the app sent them (raw pairs).
        cost: The cost the request was admitted with (the estimate).
        reported: What the endpoint reported with :func:`report_cost`, or ``None``.
    """

    status: int
    headers: Sequence[tuple[bytes, bytes]]
    cost: int
    reported: int | None


#: ``settle=``: the real cost of a request from its :class:`Completion`.
Settle = Callable[[Completion], int]


def reported(default: int | None = None) -> Settle:
    """``settle=``: the cost the endpoint reported with :func:`report_cost`.

    An endpoint that reports nothing is settled at ``default``, or, when that
    is ``None``, at the cost it was admitted with.
    """
    return lambda done: _fallback(done.reported, default, done.cost)


def from_header(name: str, *, default: int | None = None) -> Settle:
    """``settle=``: the cost a response header of the app says (``"x-tokens-used"``, say).

    The header is the app's own, on its response, never the client's. A
    response without it, or with a value that is not a whole number from 0 to
    :data:`MAX_HEADER_COST` (at most 18 ASCII digits, whatever the value's
    length), is settled at ``default``, or, when that is ``None``, at the cost
    it was admitted with. A value the stores cannot hold saturates them: the
    key is then denied for as long as they count (see docs/limiter.md).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"from_header needs a header name, got {name!r}")
    wanted = name.lower().encode("latin-1")

    def settle(done: Completion) -> int:
        for field, value in done.headers:
            if field.lower() == wanted:
                text = value.strip()
                if 0 < len(text) <= _MAX_DIGITS and text.isdigit():  # bytes.isdigit: ASCII digits only
                    return int(text)
                break
        return _fallback(None, default, done.cost)

    return settle


def report_cost(conn: HTTPConnection, cost: int) -> None:
    """Tell the limiter what this request really cost (the tokens a model call used, say).

    Call it from the endpoint of a rule (or middleware) made with
    ``settle=reported()``; the cost is settled when the response has
    finished. A later report replaces an earlier one.

    Raises:
        ValueError: ``cost`` is not an int >= 0.
        RuntimeError: no limit settles this request (its rule has no ``settle``).
    """
    if cost.__class__ is not int or cost < 0:
        raise ValueError(f"cost must be an int >= 0, got {cost!r}")
    usage = conn.scope.get(USAGE)
    if not isinstance(usage, Usage):
        raise RuntimeError("report_cost: no rate limit settles this request; give its Rule settle=reported()")
    usage.reported = cost


class Usage:
    """One admitted request's account: what its response said, and its reservation (settled once)."""

    __slots__ = ("count", "headers", "reported", "reservation", "settle", "status")

    def __init__(self, reservation: Reserved, count: Callable[[int], bool] | None, settle: Settle | None) -> None:
        self.reservation = reservation
        self.count = count
        self.settle = settle
        self.status: int | None = None
        self.headers: Sequence[tuple[bytes, bytes]] = ()
        self.reported: int | None = None

    def settles_at_start(self) -> bool:
        """Whether the cost is known once the response starts (counting by status only)."""
        return self.settle is None

    def actual(self) -> int:
        """The request's real cost, from what is known now (status 500 when there is no response)."""
        status = 500 if self.status is None else self.status
        cost = self.reservation.estimate
        if self.count is not None and not self.count(status):
            return 0
        if self.settle is None:
            return cost
        actual = self.settle(Completion(status, self.headers, cost, self.reported))
        if actual.__class__ is not int or actual < 0:
            raise ValueError(f"settle= must return an int >= 0, got {actual!r}")
        return actual

    async def close(self) -> None:
        """Settle the reservation at :meth:`actual`, shielded from cancellation; a store failure is logged.

        If the request's task is cancelled meanwhile, the settling goes on in its own task (kept
        referenced until it ends, as asyncio asks of tasks nobody awaits).
        """
        task = asyncio.ensure_future(self._settle())
        _SETTLING.add(task)
        task.add_done_callback(_SETTLING.discard)
        await asyncio.shield(task)

    async def _settle(self) -> None:
        actual = self.actual()
        if actual == self.reservation.consumed:  # nothing to charge or give back: no store call
            return
        try:
            await self.reservation.settle(actual)
        except StoreError as exc:
            logger.warning("rate limit: could not settle a request's cost (%s); it stays at its estimate", exc)


async def run_settled(app: ASGIApp, exchange: Exchange, usage: Usage, fields: Sequence[Header]) -> None:
    """Run the app with the limit ``fields``, then settle what the request really cost."""
    scope, send = exchange.scope, exchange.send
    if usage.settle is not None:
        scope[USAGE] = usage  # for report_cost
    settled = False

    async def send_and_note(message: Message) -> None:
        nonlocal settled
        if message["type"] != "http.response.start":
            await send(message)
            return
        usage.status = message["status"]
        usage.headers = list(message.get("headers", ()))
        if fields:
            message["headers"] = with_fields(usage.headers, fields)
        await send(message)
        if usage.settles_at_start():  # counting by status: known now
            settled = True
            await usage.close()

    try:
        await app(scope, exchange.receive, send_and_note)
    finally:
        if not settled:  # finished, raised (a 500) or the client went away
            settled = True
            await usage.close()


def checked_outcomes(count: object, settle: object) -> None:
    """``count`` and ``settle`` are functions (or ``None``); a value where one belongs is a ``TypeError``."""
    if count is not None and (isinstance(count, type) or not callable(count)):
        raise TypeError(f"count must be a function of the response status returning bool, got {count!r}")
    if settle is not None and (isinstance(settle, type) or not callable(settle)):
        raise TypeError(f"settle must be a function of a Completion returning the cost, got {settle!r}")


def _fallback(value: int | None, default: int | None, cost: int) -> int:
    if value is not None:
        return value
    return cost if default is None else default
