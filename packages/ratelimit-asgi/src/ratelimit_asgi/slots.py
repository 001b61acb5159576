"""A limiter with a concurrency cap: a slot held for each request until its response has ended.

That is the response's last byte, or, when the app returns without one (it
raised, the client went away, a WebSocket closed), its return: whichever
comes first. A server may finish sending before the app's coroutine returns
(Django's handler does): the slot is free by then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import Message

from ratelimit_asgi.observed import enter, leave
from ratelimit_asgi.plans import CAPPED
from ratelimit_core import RateLimitExceeded, StoreError

if TYPE_CHECKING:
    from ratelimit_asgi.exchange import Exchange
    from ratelimit_asgi.middleware import RateLimitMiddleware

__all__ = ["hold_slot"]


async def hold_slot(middleware: RateLimitMiddleware, exchange: Exchange) -> None:
    """Acquire a slot for the request, answer it, and free the slot when its response has ended."""
    assert exchange.limit is not None  # noqa: S101 - the limit is known before a decision
    limiter, plan = exchange.limit.limiter, exchange.plan
    if plan.accounting or (middleware.websocket_messages and exchange.scope["type"] == "websocket"):
        raise RuntimeError(CAPPED.format(limiter))  # a resolver chose it: known only now
    hold, held = limiter.acquire(exchange.key, plan.cost), False
    token = None if limiter.observer is None else enter(middleware.route(exchange), middleware.shadow)
    try:
        decision = await hold.__aenter__()
        held = True
    except RateLimitExceeded as denied:
        decision = denied.decision
    except StoreError as exc:
        await middleware.failed(exchange, exc)
        return
    finally:
        if token is not None:
            leave(token)
    if not held:
        await middleware.answer(exchange, decision)
        return

    async def release() -> None:
        nonlocal held
        if held:
            held = False
            await hold.__aexit__(None, None, None)

    send = exchange.send

    async def send_then_release(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await release()  # the response's last byte is out

    exchange.send = send_then_release
    try:
        await middleware.answer(exchange, decision)
    finally:
        await release()
