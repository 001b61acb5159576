"""Upstreams shaped like the vendors' APIs, over real HTTP on loopback: each says "nothing left until T" in its
own format, and the transport sends nothing until then; the limits they announce are learned.

The header shapes follow each vendor's public documentation: OpenAI's
``x-ratelimit-*-requests`` with durations, Anthropic's ``anthropic-ratelimit-*``
with RFC 3339 resets, GitHub's ``x-ratelimit-reset`` in Unix seconds with
``x-ratelimit-resource``, the IETF fields, and an HTTP-date ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from aiohttp import web
from ratelimit_client import AsyncRateLimitTransport

from ratelimit_core import Rate


def _openai() -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149984",
        "x-ratelimit-reset-tokens": "6m0s",
    }


def _anthropic() -> dict[str, str]:
    reset = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    return {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "79000",
        "anthropic-ratelimit-tokens-reset": reset,
    }


def _github() -> dict[str, str]:
    return {
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-used": "60",
        "x-ratelimit-reset": str(int(time.time()) + 2),
        "x-ratelimit-resource": "core",
    }


def _ietf() -> dict[str, str]:
    return {"RateLimit-Policy": '"default";q=10;w=1', "RateLimit": '"default";r=0;t=1'}


def _http_date() -> dict[str, str]:
    return {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)}


#: Each vendor: its exhausted answer's status and headers, the shortest pause they mean, the limit learned.
VENDORS: dict[str, tuple[int, Callable[[], dict[str, str]], float, tuple[Rate, ...] | None]] = {
    "openai": (200, _openai, 0.95, (Rate(60, 60, burst=30),)),
    "anthropic": (429, _anthropic, 0.9, (Rate(50, 60, burst=25),)),
    "github": (403, _github, 0.9, None),  # its headers name no window: pauses only
    "ietf": (200, _ietf, 0.95, (Rate(10, 1, burst=5),)),
    "http-date": (503, _http_date, 0.9, None),
}


@pytest.fixture
async def vendors(unused_tcp_port: int) -> AsyncIterator[tuple[str, dict[str, list[float]]]]:
    """A server whose ``/<vendor>`` answers its first request exhausted; the times each route was asked."""
    seen: dict[str, list[float]] = {name: [] for name in VENDORS}

    def route(name: str) -> Callable[[web.Request], object]:
        status, headers, _, _ = VENDORS[name]

        async def handler(request: web.Request) -> web.Response:
            seen[name].append(time.monotonic())
            if len(seen[name]) == 1:
                return web.Response(status=status, headers=headers())
            return web.Response(text="ok")

        return handler

    app = web.Application()
    for name in VENDORS:
        app.router.add_get(f"/{name}", route(name))  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        yield f"http://127.0.0.1:{unused_tcp_port}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("vendor", list(VENDORS))
async def test_each_vendors_pause_is_honoured_and_its_limit_learned(
    vendor: str, vendors: tuple[str, dict[str, list[float]]]
) -> None:
    base, seen = vendors
    _, _, shortest, learned = VENDORS[vendor]
    transport = AsyncRateLimitTransport(key=lambda request: request.url.path)
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        await client.get(f"/{vendor}")
        answered = time.monotonic()
        assert (await client.get(f"/{vendor}")).status_code == 200
    _, second = seen[vendor]
    assert second - answered >= shortest, f"{vendor}: sent {second - answered:.3f} s after the pause was announced"
    limiter, counts = transport.gate.limiter_for(f"/{vendor}")
    assert (limiter.rates if counts else None) == learned
    assert transport.gate.malformed == 0
