"""``rate_limit_middleware``: the httpx transport's behaviour as an aiohttp client middleware
(``ratelimit-client[aiohttp]``, aiohttp 3.12 or later)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from ratelimit_client.exchange import exceeded, log_store_failure, settled
from ratelimit_client.gate import IDEMPOTENT, Gate, deficit
from ratelimit_client.headers import Reading
from ratelimit_core import Limiter, RateLimitExceeded, StoreError

__all__ = ["ClientMiddleware", "rate_limit_middleware"]


def rate_limit_middleware(
    limiter: Limiter | None = None,
    *,
    key: Callable[[ClientRequest], str] | None = None,
    cost: Callable[[ClientRequest], int] | None = None,
    settle: Callable[[ClientResponse], int] | None = None,
    timeout: float | None = None,
    store: Any = None,
    learn: bool = True,
    max_wait: float = 600.0,
    retries: int = 0,
    retry_methods: Iterable[str] = IDEMPOTENT,
    failed_cost: int = 0,
) -> ClientMiddleware:
    """A client middleware that takes from ``limiter`` before each request and learns from each response.

    ::

        session = aiohttp.ClientSession(middlewares=(rate_limit_middleware(limiter, key=by_api_key),))

    The arguments and the behaviour are those of
    :class:`~ratelimit_client.AsyncRateLimitTransport`, with aiohttp's request
    (a ``ClientRequest``) given to ``key`` and ``cost``. One difference: with a
    concurrency cap or ``settle``, the middleware reads the response's body
    before returning it (the slot is freed, and ``settle`` called with the
    response, once it is read), so such a response does not stream.

    Raises:
        TypeError, ValueError: a bad argument, at once.
    """
    gate: Gate[Limiter] = Gate(
        Limiter,
        limiter,
        key=key,
        cost=cost,
        settle=settle,
        timeout=timeout,
        store=store,
        learn=learn,
        max_wait=max_wait,
        retries=retries,
        retry_methods=retry_methods,
        failed_cost=failed_cost,
    )
    return ClientMiddleware(gate)


class ClientMiddleware:
    """What :func:`rate_limit_middleware` makes: call it as aiohttp calls a middleware.

    Attributes:
        gate: Its settings and what it remembers (``gate.malformed`` counts the
            headers it could not read).
    """

    def __init__(self, gate: Gate[Limiter]) -> None:
        self.gate = gate
        self._teaching: dict[str, asyncio.Event] = {}

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        gate = self.gate
        key, cost = gate.key_of(request, str(request.url)), gate.cost_of(request)
        deadline = gate.deadline()
        attempt = 0
        while True:
            teaching = await self._turn(key, deadline)
            try:
                response = await self._exchange(request, handler, key, cost, deadline)
                reading = await self._learn(key, response)
            finally:
                if teaching:
                    self._teaching.pop(key).set()
            if gate.retry(request.method, response.status, reading, attempt, deadline):
                response.release()
                attempt += 1
                continue
            return response

    async def _turn(self, key: str, deadline: float | None) -> bool:
        """Wait while another request teaches ``key``'s limit; whether this request is the one that teaches it."""
        while not self.gate.knows(key):
            teacher = self._teaching.get(key)
            if teacher is None:
                self._teaching[key] = asyncio.Event()
                return True
            left = None if deadline is None else deadline - time.monotonic()
            try:
                await asyncio.wait_for(teacher.wait(), left)
            except TimeoutError:
                why = "timed out waiting for the first response to teach the limit"
                raise exceeded(None, why, self.gate.pauses.policy.limits[0]) from None
        return False

    async def _exchange(
        self, request: ClientRequest, handler: ClientHandlerType, key: str, cost: int, deadline: float | None
    ) -> ClientResponse:
        """The request's turn (its key's pause, then the limiter), then the request itself."""
        gate = self.gate
        limiter, counts = gate.limiter_for(key)
        pause = gate.paused(key)
        if pause:  # known here: no round trip until it ends
            if deadline is not None and time.monotonic() + pause > deadline:
                why = "the upstream paused this key for longer than the timeout"
                raise exceeded(pause, why, limiter.policy.limits[0])
            await asyncio.sleep(pause)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not counts or (limiter.cap is None and gate.settle is None):
            await limiter.wait(key, cost if counts else 0, timeout=left)
            return await handler(request)
        if limiter.cap is not None:
            async with limiter.acquire(key, cost, timeout=left):
                response = await handler(request)
                await response.read()  # the slot is held for the whole exchange
                return response
        while True:
            reservation = await limiter.reserve(key, cost)
            if reservation:
                break
            wait = reservation.decision.retry_after
            if wait is None or (deadline is not None and time.monotonic() + wait > deadline):
                raise RateLimitExceeded(reservation.decision, "no room for the request within the timeout")
            await asyncio.sleep(wait)
        try:
            response = await handler(request)
            await response.read()
        except BaseException:
            await reservation.settle(gate.failed_cost)
            raise
        settle = gate.settle  # given: this path is the one that reserves
        if response.status in (429, 503) or settle is None:  # a refused call settles at failed_cost
            actual: int | None = gate.failed_cost
        else:
            actual = settled(settle, response)
        if actual is not None:
            await reservation.settle(actual)
        return response

    async def _learn(self, key: str, response: ClientResponse) -> Reading:
        """Read the response: block the key for the pause it says, adopt the limits it announces."""
        gate = self.gate
        reading = gate.read(response.status, response.headers.items())
        try:
            if reading.pause and gate.remember_pause(key, reading.pause):
                await gate.limiter_for(key)[0].block(key, reading.pause)
            adopted = gate.adopt(key, reading)
            if adopted is not None:
                learned, quota = adopted
                now = await learned.peek(key, 0)
                units = deficit([s.remaining for s in now.statuses], quota.remaining)
                if units:
                    await learned.charge(key, units)
        except StoreError as exc:  # the response is the caller's all the same; the pause is kept here
            log_store_failure(exc)
        return reading
