"""An admitted WebSocket: let through, each message the client sends limited too with ``websocket_messages``.

Each client message is a hit of one unit on the handshake's limiter and key.
Over the limit, or when the store fails and ``fail_open`` is off, the socket
is closed with :data:`~ratelimit_asgi.refusing.RATE_LIMITED` and the app
hears a disconnect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Message, Receive

from ratelimit_asgi.events import DecisionEvent, tell
from ratelimit_asgi.refusing import RATE_LIMITED
from ratelimit_core import StoreError

if TYPE_CHECKING:
    from ratelimit_asgi.exchange import Exchange
    from ratelimit_asgi.middleware import RateLimitMiddleware

__all__ = ["accept"]


async def accept(middleware: RateLimitMiddleware, exchange: Exchange) -> None:
    """Let an admitted handshake through to the app."""
    receive = _limited(middleware, exchange) if middleware.websocket_messages else exchange.receive
    await middleware.app(exchange.scope, receive, exchange.send)


def _limited(middleware: RateLimitMiddleware, exchange: Exchange) -> Receive:
    """The exchange's ``receive``, with each client message counted."""
    assert exchange.limit is not None  # noqa: S101 - the limit is known before a decision
    limiter, key, rule = exchange.limit.limiter, exchange.key, exchange.plan.rule
    receive, send, conn, hook = exchange.receive, exchange.send, exchange.conn, middleware.on_decision

    async def receive_limited() -> Message:
        message = await receive()
        if message["type"] != "websocket.receive":
            return message
        try:
            decision = await limiter.hit(key, 1)
        except StoreError as exc:
            if hook is not None:
                await tell(hook, conn, DecisionEvent(None, limiter, rule, exc))
            if middleware.fail_open:
                return message
            decision = None
        if decision is not None and hook is not None:
            await tell(hook, conn, DecisionEvent(decision, limiter, rule))
        if decision is None or not (decision.allowed or middleware.shadow):
            await send({"type": "websocket.close", "code": RATE_LIMITED, "reason": "rate limit exceeded"})
            return {"type": "websocket.disconnect", "code": RATE_LIMITED}
        return message

    return receive_limited
