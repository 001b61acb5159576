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
        if breaker is not None and not breaker.allow():
            raise StoreError(
                f"redis at {self.address} is failing (last error: {breaker.last_error!r}); "
                f"the circuit breaker is open, the next try in {breaker.retry_in():.3f} s"
            )
        probing = breaker is not None and breaker.probing
        channel = self._channel()
        try:
            try:
                reply = await channel.call(command)
            except NoScriptError:
                if again is None:
                    raise
                reply = await channel.call(again())
        except AskError:  # a cluster redirection: the server answered
            if breaker is not None:
                breaker.success()
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            if breaker is not None:
                breaker.failure(exc)
            raise
        except asyncio.CancelledError:
            if probing and breaker is not None:
                breaker.abandon()
            raise
        if breaker is not None:
            breaker.success()
        return reply

    def _channel(self) -> Channel:
        """The first channel when it is idle, else the one with fewer commands in flight."""
        first, second = self.channels
        load = first.load
        if not load:
            return first
        if not second.ready:
            second.connect_soon()
            return first
        return second if second.load < load else first

    async def aclose(self) -> None:
        for channel in self.channels:
            await channel.aclose()
