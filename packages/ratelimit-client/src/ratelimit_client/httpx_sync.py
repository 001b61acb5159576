"""``RateLimitTransport``: the blocking twin of ``AsyncRateLimitTransport``, thread-safe
(``ratelimit-client[httpx]``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from ratelimit_client.exchange import Body
from ratelimit_client.gate import IDEMPOTENT, Gate
from ratelimit_client.sync_flow import Flow, Ticket
from ratelimit_core.sync import Limiter

__all__ = ["RateLimitTransport"]


class RateLimitTransport(httpx.BaseTransport):
    """Rate limits for the requests of an ``httpx.Client``, learnt from the upstream and shared by the store.

    ::

        client = httpx.Client(transport=RateLimitTransport(limiter, key=by_api_key))

    The blocking twin of :class:`~ratelimit_client.AsyncRateLimitTransport`,
    safe to share between threads: the same arguments and behaviour, with a
    :class:`ratelimit_core.sync.Limiter` (or ``None`` to learn the limits), a
    store of ``ratelimit_core.sync`` (default: a ``MemoryStore`` of this
    transport) and an inner ``httpx.BaseTransport`` (default:
    ``httpx.HTTPTransport()``). See docs/client.md.

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise TypeError(f"transport must be an httpx.BaseTransport, got {transport!r}")
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
        self._inner = httpx.HTTPTransport() if transport is None else transport
        self._flow = Flow(self.gate)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        gate, flow = self.gate, self._flow
        key, cost = gate.key_of(request, _host), gate.cost_of(request)
        deadline = gate.deadline()
        if gate.retries:
            request.read()  # a retry sends the body again
        attempt = 0
        while True:
            teaching = not gate.knows(key) and flow.turn(key, deadline)
            try:
                ticket = flow.admit(key, cost, deadline)
                try:
                    response = self._inner.handle_request(request)
                except BaseException:
                    ticket.close(gate.failed_cost)
                    raise
                reading = flow.learn(key, response.status_code, response.headers.multi_items())
            finally:
                if teaching:
                    flow.taught(key)
            if gate.retry(request.method, response.status_code, reading, attempt, deadline):
                response.close()
                ticket.close(gate.failed_cost)  # refused: the failed call's cost
                attempt += 1
                continue
            return _wrap(ticket, response, request, gate)

    def close(self) -> None:
        self._inner.close()


def _host(request: httpx.Request) -> str:
    """:func:`~ratelimit_client.by_host` from httpx's parsed URL (its host is lower case already)."""
    return request.url.netloc.decode("ascii")


def _wrap(ticket: Ticket, response: httpx.Response, request: httpx.Request, gate: Gate[Limiter]) -> httpx.Response:
    """``response``, whose stream settles and frees ``ticket`` when closed."""
    if ticket.hold is None and ticket.reservation is None:
        return response
    refused = response.status_code in (429, 503)  # a failed call: it settles at failed_cost
    body = Body(gate.settle is not None and not refused)

    def finish() -> None:
        ticket.close(gate.failed_cost if refused else body.cost(gate.settle, response, request))

    return httpx.Response(
        response.status_code,
        headers=response.headers,
        stream=_Closing(response.stream, body, finish),  # type: ignore[arg-type]
        extensions=response.extensions,
        request=request,
    )


class _Closing(httpx.SyncByteStream):
    """A response's stream that keeps its body for ``settle`` and calls ``finish`` once, when closed."""

    def __init__(self, stream: httpx.SyncByteStream, body: Body, finish: Callable[[], None]) -> None:
        self._stream = stream
        self._body = body
        self._finish: Callable[[], None] | None = finish

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._body.add(chunk)
            yield chunk

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            finish, self._finish = self._finish, None
            if finish is not None:
                finish()
