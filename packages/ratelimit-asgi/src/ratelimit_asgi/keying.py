"""A request's key: read straight from the scope (the peer's address), or asked of the key function.

A key function may read the request body, up to :data:`MAX_KEY_BODY`: what
it reads is kept and replayed to the app, which gets the body as sent. A key
function that raises, or gives no ``str``, has the request refused with 400,
never a 500 and never an unlimited request; it is counted and logged at most
once a minute.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope

from ratelimit_asgi.exchange import Exchange, connection
from ratelimit_asgi.keys import ANONYMOUS, FACTORIES, address_key
from ratelimit_asgi.refusing import BAD_KEY, TOO_LARGE, refuse
from ratelimit_core.throttled import ThrottledWarning

__all__ = ["MAX_KEY_BODY", "KeyFunction", "ask_key", "checked_key_func", "peer_key", "unkeyed_warning"]

logger = logging.getLogger("ratelimit_asgi")

KeyFunction = Callable[[HTTPConnection], "str | Awaitable[str]"]

#: The most of a request body a key function may read (it is kept and given to the app after).
MAX_KEY_BODY = 1024 * 1024


def checked_key_func(key_func: Any) -> KeyFunction:
    """``key_func``, refused at once when it is not one (an uncalled helper, not a callable)."""
    if key_func in FACTORIES:
        name = key_func.__name__
        raise TypeError(f"key_func={name} is the helper, not a key function: call it, key_func={name}(...)")
    if not callable(key_func):
        raise TypeError(f"key_func must be a callable taking the connection, got {key_func!r}")
    function: KeyFunction = key_func
    return function


def unkeyed_warning() -> ThrottledWarning:
    """The warning for requests whose key function failed: one per middleware, shared by its plans."""
    return ThrottledWarning(
        logger,
        "rate limit: the key function %r failed (%s: %.200s); the request was refused with 400. A key function "
        "that may meet malformed input should return a fallback key itself (%d such requests so far)",
        60.0,
    )


def peer_key(scope: Scope, prefix: int) -> str:
    """The direct peer's address as a key (an IPv6 one on its ``prefix``), read straight from the scope."""
    client = scope.get("client")
    if not client:
        return ANONYMOUS
    host: str = client[0]
    return host if ":" not in host else address_key(host, prefix)  # IPv4 is its own key


async def ask_key(exchange: Exchange) -> bool:
    """Set the exchange's key from the key function; ``False`` once the request is refused (400 or 413)."""
    scope, receive, plan = exchange.scope, exchange.receive, exchange.plan
    recorder = _Recorder(receive) if scope["type"] == "http" else None
    conn = exchange.conn = connection(scope, recorder or receive, exchange.send)
    try:
        key = plan.key_func(conn)
        if inspect.isawaitable(key):
            key = await key
    except _BodyTooLarge:
        await TOO_LARGE.send(exchange.send)
        return False
    except Exception as error:  # noqa: BLE001 - whatever the client's bytes made it raise: a 400, never a 500
        return await _unkeyed(exchange, error)
    if key.__class__ is not str:  # a missing header or field gave None, say: the request cannot be keyed
        return await _unkeyed(exchange, TypeError(f"the key function returned {type(key).__name__}, not a str"))
    exchange.key = f"{key}|{scope['path']}" if plan.per_path else key
    if recorder is not None and recorder.messages:
        exchange.receive = recorder.replay()
    return True


async def _unkeyed(exchange: Exchange, error: Exception) -> bool:
    plan = exchange.plan
    plan.unkeyed(plan.key_func, type(error).__name__, error)
    await refuse(exchange.scope, exchange.receive, exchange.send, BAD_KEY)
    return False


class _BodyTooLarge(Exception):
    """A key function read more than :data:`MAX_KEY_BODY` bytes of the body."""


class _Recorder:
    """The ``receive`` a key function's request reads from: what it reads is kept for the app."""

    __slots__ = ("messages", "receive", "size")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.messages: list[Message] = []
        self.size = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > MAX_KEY_BODY:
                raise _BodyTooLarge
        self.messages.append(message)
        return message

    def replay(self) -> Receive:
        """``receive`` for the app: the messages the key function read, then the rest."""
        kept = deque(self.messages)

        async def receive() -> Message:
            return kept.popleft() if kept else await self.receive()

        return receive
