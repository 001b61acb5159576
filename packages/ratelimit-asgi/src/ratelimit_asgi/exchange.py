"""One request, or WebSocket handshake, as the middleware carries it from step to step."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ratelimit_asgi.fields import Header, with_fields

if TYPE_CHECKING:
    from ratelimit_asgi.limiter_fields import LimiterFields
    from ratelimit_asgi.plans import Plan

__all__ = ["Exchange", "connection"]


class Exchange:
    """What the middleware's steps share about one request.

    Attributes:
        scope: The request's scope.
        receive: The request's ``receive``; it replays what a key function read of the body.
        send: The request's ``send``, wrapped by the steps that need to see the response.
        plan: What applies to the request.
        limit: The limiter that decides, with its fields: the plan's, or the one its resolver chose.
        key: The request's key.
        fields: The limit fields :meth:`send_with_fields` adds to the response.
    """

    __slots__ = ("_conn", "fields", "key", "limit", "plan", "receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send, plan: Plan) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.plan = plan
        self.limit: LimiterFields | None = plan.limit
        self.key = ""
        self._conn: HTTPConnection | None = None
        self.fields: Sequence[Header] = ()

    def send_with_fields(self, message: Message) -> Awaitable[None]:
        """``send``, with :attr:`fields` added to the response's start (a field the app set is the app's)."""
        # A plain function handing back send's awaitable: no coroutine of its own per message.
        if message["type"] == "http.response.start":
            message["headers"] = with_fields(message.get("headers", ()), self.fields)
        return self.send(message)

    @property
    def conn(self) -> HTTPConnection:
        """The connection the key function read, or, when none did, one made now (for the hook)."""
        if self._conn is None:
            self._conn = connection(self.scope, self.receive, self.send)
        return self._conn

    @conn.setter
    def conn(self, conn: HTTPConnection) -> None:
        self._conn = conn


def connection(scope: Scope, receive: Receive, send: Send) -> HTTPConnection:
    """What key functions and hooks receive: a ``Request``, or a ``WebSocket`` for WebSocket scopes."""
    if scope["type"] == "websocket":
        return WebSocket(scope, receive, send)
    return Request(scope, receive)
