"""``rate_limit_middleware``: the httpx transport's behaviour as an aiohttp client middleware
(``ratelimit-client[aiohttp]``, aiohttp 3.12 or later)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from ratelimit_client.exchange import settled
from ratelimit_client.flow import Flow, Ticket
from ratelimit_client.gate import IDEMPOTENT, Gate, by_host
from ratelimit_core import Limiter

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


def _host(request: ClientRequest) -> str:
    return by_host(str(request.url))


class ClientMiddleware:
    """What :func:`rate_limit_middleware` makes: call it as aiohttp calls a middleware.

    Attributes:
        gate: Its settings and what it remembers (``gate.malformed`` counts the
            headers it could not read).
    """

    def __init__(self, gate: Gate[Limiter]) -> None:
        self.gate = gate
        self._flow = Flow(gate)

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        gate, flow = self.gate, self._flow
        key, cost = gate.key_of(request, _host), gate.cost_of(request)
        deadline = gate.deadline()
        attempt = 0
        while True:
            teaching = not gate.knows(key) and await flow.turn(key, deadline)
            try:
                ticket = await flow.admit(key, cost, deadline)
                response = await self._exchange(request, handler, ticket)
                reading = await flow.learn(key, response.status, response.headers.items())
            finally:
                if teaching:
                    flow.taught(key)
            if gate.retry(request.method, response.status, reading, attempt, deadline):
                response.release()
                attempt += 1
                continue
            return response

    async def _exchange(self, request: ClientRequest, handler: ClientHandlerType, ticket: Ticket) -> ClientResponse:
        """The request sent; with a slot or a reservation, its body read, then the slot freed and the units settled."""
        gate = self.gate
        try:
            response = await handler(request)
            if ticket.hold is None and ticket.reservation is None:
                return response
            await response.read()
        except BaseException:
            await ticket.aclose(gate.failed_cost)
            raise
        settle = gate.settle
        if response.status in (429, 503) or settle is None:  # a refused call settles at failed_cost
            await ticket.aclose(gate.failed_cost)
        else:
            await ticket.aclose(settled(settle, response))
        return response
