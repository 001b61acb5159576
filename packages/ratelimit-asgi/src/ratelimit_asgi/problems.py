"""Refusals: one way to answer a denial or an outage, for the middleware and the dependency alike.

Every refusal is an ``application/problem+json`` document (RFC 9457) with
``Cache-Control: no-store``. The middleware sends it straight away; the
FastAPI dependency raises it as :class:`RateLimitRefusal`, which
:func:`problem_handler` answers with the same document::

    app.add_exception_handler(RateLimitRefusal, problem_handler)

(Without the handler, FastAPI answers it as the ``HTTPException`` it also is:
the same status and headers, with FastAPI's own JSON body.)

The problem type is ``about:blank`` by default. ``problem_type="quota-exceeded"``
opts in to draft-ietf-httpapi-ratelimit-headers-11's
``https://iana.org/assignments/http-problem-types#quota-exceeded``, whose
``violated-policies`` member names the policies that denied; ``about:blank``
stays the default until IANA registers the type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Send

from ratelimit_asgi.fields import Fields, retry_after_value
from ratelimit_core import Decision

__all__ = [
    "QUOTA_EXCEEDED",
    "ProblemType",
    "RateLimitRefusal",
    "Refusal",
    "problem_handler",
    "refusal",
    "too_many",
]

ProblemType = Literal["about:blank", "quota-exceeded"]
PROBLEM_TYPES = ("about:blank", "quota-exceeded")
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"

Header = tuple[bytes, bytes]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal as it goes on the wire: status, every header, the problem document."""

    status: int
    headers: list[Header]
    body: bytes

    async def send(self, send: Send) -> None:
        """Answer with it; the app is never called. (A copy of the headers: outer middleware may edit them.)"""
        await send({"type": "http.response.start", "status": self.status, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": self.body})


def refusal(status: int, title: str, detail: str) -> Refusal:
    """The refusal with ``status``: an ``about:blank`` problem document."""
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body = json.dumps(document).encode()
    return Refusal(status, _problem_headers(body), body)


def _problem_headers(body: bytes) -> list[Header]:
    """The headers every problem document goes with."""
    return [
        (b"content-type", b"application/problem+json"),
        (b"content-length", b"%d" % len(body)),
        (b"cache-control", b"no-store"),
    ]


def too_many(decision: Decision, fields: Fields, headers: list[Header], problem_type: ProblemType) -> Refusal:
    """The 429 for ``decision``: its limit fields (``headers``), ``Retry-After`` unless the cost never fits."""
    retry = retry_after_value(decision)
    violated = tuple(fields.violated(decision)) if problem_type == "quota-exceeded" else ()
    body = _too_many_document(retry, problem_type, violated)
    headers[:0] = _problem_headers(body)
    if retry is not None:
        headers.append((b"retry-after", retry))
    return Refusal(429, headers, body)


@lru_cache(maxsize=1024)  # a denial's document depends on few things: most denials reuse one
def _too_many_document(retry: bytes | None, problem_type: ProblemType, violated: tuple[str, ...]) -> bytes:
    if retry is not None:
        detail = f"Too many requests: retry in {retry.decode()} s."
    else:
        detail = "This request costs more than the rate limit ever allows."
    document: dict[str, object] = {"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": detail}
    if problem_type == "quota-exceeded":
        document["type"] = QUOTA_EXCEEDED
        document["violated-policies"] = list(violated)
    return json.dumps(document).encode()


#: The answer to an outage that is not let through (``fail_open=False``, or ``on_error="deny"``).
UNAVAILABLE = refusal(503, "Service Unavailable", "The rate limiter is unavailable.")


class RateLimitRefusal(HTTPException):
    """A refusal raised by the ``RateLimit`` dependency; :func:`problem_handler` sends it as it is."""

    def __init__(self, refused: Refusal) -> None:
        headers = {name.decode(): value.decode() for name, value in refused.headers if name != b"content-length"}
        super().__init__(refused.status, json.loads(refused.body)["detail"], headers=headers)
        self.refusal = refused


async def problem_handler(request: Request, exc: Exception) -> Response:
    """The exception handler that answers a :class:`RateLimitRefusal` with its problem document."""
    if not isinstance(exc, RateLimitRefusal):  # pragma: no cover - registered for that class only
        raise exc
    refused = exc.refusal
    headers = {name.decode(): value.decode() for name, value in refused.headers if name != b"content-length"}
    return Response(refused.body, refused.status, headers=headers, media_type="application/problem+json")
