"""``application/problem+json`` responses (RFC 9457) for denials and outages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import Send

__all__ = ["send_problem"]


async def send_problem(
    send: Send, status: int, title: str, detail: str, headers: Sequence[tuple[bytes, bytes]]
) -> None:
    """Answer with ``status`` and a problem document; the app is never called."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", b"%d" % len(body)),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
