"""Refusing a request before the app sees it: a problem document over HTTP, a refused WebSocket handshake.

A handshake is refused with an HTTP response where the server supports the
ASGI ``websocket.http.response`` extension, else with a close before accept
(:data:`RATE_LIMITED`).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import Receive, Scope, Send

from ratelimit_asgi.problems import Header, Refusal, refusal

__all__ = ["BAD_KEY", "RATE_LIMITED", "TOO_LARGE", "TOO_LONG", "handshake", "refuse", "refuse_handshake"]

#: The close code for a WebSocket over its message limit, or refused at its handshake where the server
#: cannot answer it with a 429: in RFC 6455's private range (4000-4999), which every server accepts.
#: (Daphne refuses 1008, "policy violation": it allows only 1000 and 3000-4999.)
RATE_LIMITED = 4008

#: A path too long to match against rules.
TOO_LONG = refusal(414, "URI Too Long", "The path is too long to be rate limited.")
#: A key function read more of the body than it may.
TOO_LARGE = refusal(413, "Content Too Large", "The body is too large to be rate limited.")
#: A key function raised, or gave no ``str``.
BAD_KEY = refusal(400, "Bad Request", "The request could not be keyed for rate limiting.")

_REASONS = {
    400: b"Bad Request",
    413: b"Content Too Large",
    414: b"URI Too Long",
    429: b"Too Many Requests",
    503: b"Service Unavailable",
}


async def refuse(scope: Scope, receive: Receive, send: Send, refused: Refusal) -> None:
    """Refuse a request with ``refused``; a WebSocket handshake with its status."""
    if scope["type"] == "websocket":
        await refuse_handshake(scope, receive, send, handshake(refused.status))
    else:
        await refused.send(send)


def handshake(status: int, fields: Sequence[Header] = ()) -> Refusal:
    """A refused handshake's HTTP response: its reason in plain text, and ``fields`` among its headers."""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store"), *fields]
    return Refusal(status, headers, _REASONS.get(status, b"Refused"))


async def refuse_handshake(scope: Scope, receive: Receive, send: Send, refused: Refusal) -> None:
    """Refuse a handshake: ``refused`` where the server can send an HTTP response, else a close before accept."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": refused.status, "headers": refused.headers})
        await send({"type": "websocket.http.response.body", "body": refused.body})
    else:
        await send({"type": "websocket.close", "code": RATE_LIMITED})
