"""Rate limits for outgoing HTTP calls, learnt from what the upstream says and shared by every process.

* :class:`AsyncRateLimitTransport` and :class:`RateLimitTransport`: httpx
  transports (``ratelimit-client[httpx]``).
* :func:`rate_limit_middleware`: an aiohttp client middleware
  (``ratelimit-client[aiohttp]``).
* :func:`read`: what a response's headers say about its limits, every format.

The transports are imported on first use, so that this package needs neither
httpx nor aiohttp until one is used. See docs/client.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ratelimit_client.__about__ import __version__
from ratelimit_client.gate import IDEMPOTENT, NAME, by_host
from ratelimit_client.headers import Quota, Reading, read

if TYPE_CHECKING:
    from ratelimit_client.aiohttp_middleware import ClientMiddleware, rate_limit_middleware
    from ratelimit_client.httpx_async import AsyncRateLimitTransport
    from ratelimit_client.httpx_sync import RateLimitTransport

__all__ = [
    "IDEMPOTENT",
    "NAME",
    "AsyncRateLimitTransport",
    "ClientMiddleware",
    "Quota",
    "RateLimitTransport",
    "Reading",
    "__version__",
    "by_host",
    "rate_limit_middleware",
    "read",
]

_LAZY = {
    "AsyncRateLimitTransport": "ratelimit_client.httpx_async",
    "RateLimitTransport": "ratelimit_client.httpx_sync",
    "ClientMiddleware": "ratelimit_client.aiohttp_middleware",
    "rate_limit_middleware": "ratelimit_client.aiohttp_middleware",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ratelimit_client' has no attribute {name!r}")
    try:
        imported = __import__(module, fromlist=[name])
    except ImportError as exc:
        extra = "httpx" if "httpx" in module else "aiohttp"
        raise ImportError(f"{name} needs {extra}: pip install 'ratelimit-client[{extra}]' ({exc})") from exc
    return getattr(imported, name)
