"""``AsyncRateLimitTransport``: an httpx transport that takes from a limiter before each request and learns from
each response (``ratelimit-client[httpx]``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpx

from ratelimit_client.exchange import Body
from ratelimit_client.flow import Flow, Ticket
from ratelimit_client.gate import IDEMPOTENT, Gate
from ratelimit_core import Limiter

__all__ = ["AsyncRateLimitTransport"]


class AsyncRateLimitTransport(httpx.AsyncBaseTransport):
    """Rate limits for the requests of an ``httpx.AsyncClient``, learnt from the upstream and shared by the store.

    ::

        client = httpx.AsyncClient(transport=AsyncRateLimitTransport(limiter, key=by_api_key))

    Before each request, the request's key waits for its turn on the limiter
    (and for any pause the upstream announced, in any process sharing the
    store); after each response, a ``Retry-After`` on a 429 or a 503, or a
    quota with nothing left, blocks the key on the store until then
    (``Limiter.block``), and without a limiter the limits the upstream
    announces are adopted. See docs/client.md.

    Args:
        limiter: A :class:`ratelimit_core.Limiter`, or ``None`` to learn the
            limits from the upstream (``learn``).
        key: A function of the ``httpx.Request`` giving its key; default: the
            host (with its port when the URL names one).
        cost: A function of the request giving its units (default 1); only
            with a limiter.
        settle: A function of the finished response (an ``httpx.Response``
            whose body is read) giving the units it really cost: the request
            reserves ``cost`` and settles when the response is closed (a stream
            when it ends). Only with a limiter without a concurrency cap.
        timeout: Seconds a request may wait for its turn; past it the request
            raises :class:`~ratelimit_core.RateLimitExceeded` without being
            sent. ``None``: no bound.
        store: Where pauses and learned limits live without a limiter (default:
            a ``MemoryStore`` of this transport); with one, its store.
        learn: Adopt the limits the upstream announces when no limiter is
            given. Pauses are honoured either way.
        max_wait: The longest pause an upstream may announce, in seconds.
        retries: How many times a request refused with a 429 or a 503 is sent
            again once its pause ends (default: none).
        retry_methods: The methods that may be retried: the idempotent ones
            by default. Add ``"POST"`` only for calls safe to repeat.
        failed_cost: What a reserved request that failed (an exception, no
            response) settles at (default 0: nothing spent).
        transport: The transport that sends (default: ``httpx.AsyncHTTPTransport()``).

    Raises:
        TypeError, ValueError: a bad argument, at once.
    """

    def __init__(
        self,
        limiter: Limiter | None = None,
        *,
        key: Callable[[httpx.Request], str] | None = None,
        cost: Callable[[httpx.Request], int] | None = None,
        settle: Callable[[httpx.Response], int] | None = None,
        timeout: float | None = None,
        store: Any = None,
        learn: bool = True,
        max_wait: float = 600.0,
        retries: int = 0,
        retry_methods: Iterable[str] = IDEMPOTENT,
        failed_cost: int = 0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(f"transport must be an httpx.AsyncBaseTransport, got {transport!r}")
        self.gate: Gate[Limiter] = Gate(
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
        self._inner = httpx.AsyncHTTPTransport() if transport is None else transport
        self._flow = Flow(self.gate)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate, flow = self.gate, self._flow
        key, cost = gate.key_of(request, _host), gate.cost_of(request)
        deadline = gate.deadline()
        if gate.retries:
            await request.aread()  # a retry sends the body again
        attempt = 0
        while True:
            teaching = not gate.knows(key) and await flow.turn(key, deadline)
            try:
                ticket = await flow.admit(key, cost, deadline)
                try:
                    response = await self._inner.handle_async_request(request)
                except BaseException:
                    await ticket.aclose(gate.failed_cost)
                    raise
                reading = await flow.learn(key, response.status_code, response.headers.multi_items())
            finally:
                if teaching:
                    flow.taught(key)
            if gate.retry(request.method, response.status_code, reading, attempt, deadline):
                await response.aclose()
                await ticket.aclose(gate.failed_cost)  # refused: the failed call's cost
                attempt += 1
                continue
            return _wrap(ticket, response, request, gate)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _host(request: httpx.Request) -> str:
    """:func:`~ratelimit_client.by_host` from httpx's parsed URL (its host is lower case already)."""
    return request.url.netloc.decode("ascii")


def _wrap(ticket: Ticket, response: httpx.Response, request: httpx.Request, gate: Gate[Limiter]) -> httpx.Response:
    """``response``, whose stream settles and frees ``ticket`` when closed."""
    if ticket.hold is None and ticket.reservation is None:
        return response
    refused = response.status_code in (429, 503)  # a failed call: it settles at failed_cost
    body = Body(gate.settle is not None and not refused)

    async def finish() -> None:
        await ticket.aclose(gate.failed_cost if refused else body.cost(gate.settle, response, request))

    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=_Closing(response.stream, body, finish),  # type: ignore[arg-type]
        extensions=response.extensions,
        request=request,
    )


class _Closing(httpx.AsyncByteStream):
    """A response's stream that keeps its body for ``settle`` and calls ``finish`` once, when closed."""

    def __init__(self, stream: httpx.AsyncByteStream, body: Body, finish: Callable[[], Awaitable[None]]) -> None:
        self._stream = stream
        self._body = body
        self._finish: Callable[[], Awaitable[None]] | None = finish

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._body.add(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            finish, self._finish = self._finish, None
            if finish is not None:
                await finish()
