"""One Redis server as the store uses it: two channels, a breaker, and scripts that survive ``NOSCRIPT``.

A standalone or Sentinel-managed client is one :class:`Server`; a cluster is
one per primary (:mod:`ratelimit_redis.cluster`). Both offer the same call,
``run(key, command, again)``.

Each call goes to the channel with fewer commands in flight. One channel
would make the client and Redis take turns: Redis runs a batch while the
process waits, then the process handles the replies while Redis waits. With
two, one batch runs on the server while the process prepares the next, and
the two cores work at once (about 1.5 times the decisions per second under
concurrency, measured). A lone caller always finds the first one idle. The
second connects in the background the first time two calls overlap, and
takes calls once it is ready: no decision waits for its set-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.exceptions import AskError, NoScriptError, RedisError

from ratelimit_core import StoreError
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.channel import Channel

__all__ = ["Server"]


class Server:
    """Runs commands on one server through its :class:`Channel` pair, behind its :class:`Breaker`."""

    __slots__ = ("address", "breaker", "channels")

    def __init__(self, channels: tuple[Channel, Channel], breaker: Breaker | None) -> None:
        self.channels = channels
        self.address = channels[0].address
        self.breaker = breaker

    def __repr__(self) -> str:
        return f"Server({self.channels!r}, {self.breaker!r})"

    async def run(self, key: bytes, command: bytes, again: Callable[[], bytes] | None = None) -> Any:
        """Send ``command`` (``key`` routes it in a cluster; one server ignores it).

        ``again`` builds the same script call as ``EVAL`` with its source: sent
        in the same call when the server does not know the script (``NOSCRIPT``
        after a restart, a failover or ``SCRIPT FLUSH``). ``EVAL`` needs no
        earlier ``SCRIPT LOAD``, so no flush can come between the two.

        Raises:
            StoreError: the breaker is open (at once, without I/O).
            RedisError, OSError, TimeoutError: the server failed; the breaker counts it.
        """
        breaker = self.breaker
        if breaker is None:
            return await self._send(command, again)
        if not breaker.allow():
            raise StoreError(
                f"redis at {self.address} is failing (last error: {breaker.last_error!r}); "
                f"the circuit breaker is open, the next try in {breaker.retry_in():.3f} s"
            )
        probing = breaker.probing
        try:
            reply = await self._send(command, again)
        except AskError:  # a cluster redirection: the server answered
            breaker.success()
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            breaker.failure(exc)
            raise
        except asyncio.CancelledError:
            if probing:
                breaker.abandon()
            raise
        breaker.success()
        return reply

    async def _send(self, command: bytes, again: Callable[[], bytes] | None) -> Any:
        first, second = self.channels
        channel = first
        if first.load:
            if second.ready:
                if second.load < first.load:
                    channel = second
            else:
                second.connect_soon()
        try:
            return await channel.call(command)
        except NoScriptError:
            if again is None:
                raise
            return await channel.call(again())

    async def aclose(self) -> None:
        for channel in self.channels:
            await channel.aclose()
