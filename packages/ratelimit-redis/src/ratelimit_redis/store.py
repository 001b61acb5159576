"""RedisStore: each decision is one atomic Lua script on the server's clock."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ratelimit_core import Decision, Policy
from ratelimit_core.observe import Observer
from ratelimit_redis.calls import CALL_ERRORS, MAX_LOG_LIMIT, Call, failure
from ratelimit_redis.channel import Channel
from ratelimit_redis.cluster import ClusterServers
from ratelimit_redis.server import Server
from ratelimit_redis.store_base import Reader, RedisCore

__all__ = ["MAX_LOG_LIMIT", "RedisStore"]


class RedisStore(RedisCore):
    """Limiter state in Redis: one ``EVALSHA`` per decision, all rates in that one call.

    The store talks to Redis over connections of its own (two per server, the
    second made in the background when two decisions first overlap; two per
    primary in a cluster), made with your client's settings (address, TLS, AUTH, database,
    Sentinel) but never taken from your client's pool. Concurrent decisions
    pipeline on them. Close it with :meth:`aclose` (or use the
    store as an ``async with`` block); your client stays yours to close.

    Args:
        client: Your ``redis.asyncio.Redis`` (standalone or Sentinel-managed) or
            ``redis.asyncio.RedisCluster``. ``decode_responses`` may be on or off.
        prefix: The first part of every key (no braces; colons are fine).
        timeout: Seconds Redis may go without answering anything on a
            decision's connection while the decision waits, counted from the
            moment its command is written (so a busy event loop, or decisions
            queued ahead of it, do not count), or ``None`` for no bound. When it
            passes, the limiter's failure policy applies.
        connect_timeout: Seconds that making a connection (TCP, TLS, AUTH,
            ``HELLO``) or reading a cluster's slots may take. Only the decisions
            that arrive while it happens wait for it, and it never counts
            against their ``timeout``.
        breaker_failures: Failures in a row that open the circuit breaker, or
            ``None`` for no breaker. While it is open, decisions go to the failure
            policy at once; after ``breaker_cooldown`` seconds one decision
            probes the server, and its success closes the breaker.
        breaker_cooldown: Seconds the breaker stays open after the last failure.
        clock: For tests only: a callable returning seconds, sent to the scripts
            instead of the server's ``TIME``. Keys then live a day: Redis
            expires them on its own clock, which the test's does not move.
        observer: An :class:`~ratelimit_core.observe.Observer` told of the
            circuit breaker's state changes, deny-cache hits and the size of
            each batch written (decisions and store calls are the limiter's to
            report: give it the observer too).

    Raises:
        TypeError: ``client`` is not an asyncio Redis client.
        ValueError: for a bad prefix, timeout, breaker setting or clock.

    Backend failures (connection lost, timeout, ``OOM``, ``READONLY``, cluster
    errors, an open breaker) raise :class:`~ratelimit_core.StoreError`. A script
    missing after a restart, failover or ``SCRIPT FLUSH`` is sent again with
    its source (``EVAL``) in the same call.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "ratelimit",
        timeout: float | None = 0.25,
        connect_timeout: float = 2.0,
        breaker_failures: int | None = 5,
        breaker_cooldown: float = 0.5,
        clock: Callable[[], float] | None = None,
        observer: Observer | None = None,
    ) -> None:
        if not isinstance(client, Redis | RedisCluster):
            raise TypeError(
                f"RedisStore needs an asyncio client, redis.asyncio.Redis or redis.asyncio.RedisCluster, got {client!r}"
            )
        super().__init__(
            prefix=prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            breaker_failures=breaker_failures,
            breaker_cooldown=breaker_cooldown,
            clock=clock,
            observer=observer,
        )
        self._servers: Server | ClusterServers
        if isinstance(client, RedisCluster):
            self._servers = ClusterServers(client, self._node_server, connect_timeout=connect_timeout)
        else:
            pool = client.connection_pool
            self._servers = self._server(
                address(pool), lambda: _connection(pool.connection_class, pool.connection_kwargs)
            )

    def __repr__(self) -> str:
        return f"RedisStore({self._servers!r}, {self._settings()})"

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store's own connections (not your client). A later decision connects again."""
        await self._servers.aclose()

    # -- the Store contract ----------------------------------------------------------

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        decision: Decision = await self._run(*self._hit(policy, key, cost))
        return decision

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        decision: Decision = await self._run(*self._peek(policy, key, cost))
        return decision

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`. One script call, every rate."""
        decision: Decision = await self._run(*self._charge(policy, key, cost))
        return decision

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`. One script call, every rate."""
        decision: Decision = await self._run(*self._refund(policy, key, cost, until))
        return decision

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`. One script call: a hit, and the server's time of it."""
        reserved: tuple[Decision, tuple[int, ...]] = await self._run(*self._reserve(policy, key, cost))
        return reserved

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        await self._run(*self._reset(policy, key), doing="reset")

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`. One script call, on the server's clock."""
        lasts: int = await self._run(*self._block(policy, key, duration), doing="block")
        return lasts

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        await self._run(*self._write_note(policy, key, text, ttl), doing="write a note")

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        note: bytes | None = await self._run(*self._read_note(policy, key), doing="read a note")
        return note

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`. One script call: the rates and the slot."""
        decision: Decision = await self._run(*self._acquire(policy, key, cost, holder))
        return decision

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        await self._run(*self._release(policy, key, holder))

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        kept: bool = await self._run(*self._renew(policy, key, holder))
        return kept

    # -- internals ---------------------------------------------------------------------

    async def _run(self, call: Call, read: Reader, doing: str = "decide") -> Any:
        """One call on the store's connections, its reply read: the answer, or a ``StoreError``."""
        try:
            reply: bytes = await self._servers.run(call.first_key, call.command, call.fallback)
        except CALL_ERRORS as exc:
            raise failure(exc, doing) from exc
        return read(reply)

    def _server(self, address: str, factory: Callable[[], Any]) -> Server:
        observer = self._observer
        on_batch = None if observer is None else partial(observer.batch, self.label)
        first, second = (
            Channel(
                factory,
                address=address,
                timeout=self._timeout,
                connect_timeout=self._connect_timeout,
                prepare=self._check_eviction,
                on_batch=on_batch,
            )
            for _ in range(2)
        )
        return Server((first, second), self._new_breaker())

    def _node_server(self, name: str, connection_class: Any, kwargs: dict[str, Any]) -> Server:
        return self._server(name, lambda: _connection(connection_class, kwargs))

    async def _check_eviction(self, conn: Any) -> None:
        """Once per store, on its first connection: warn when Redis may evict the limiter's keys."""
        if self._eviction_checked:
            return
        self._eviction_checked = True
        try:
            await conn.send_command("CONFIG", "GET", "maxmemory-policy", check_health=False)
            reply = await conn.read_response(disable_decoding=True, timeout=math.inf)
        except ResponseError:  # CONFIG forbidden (as the documented ACL does) or renamed: say nothing
            return
        self._evicting(reply)


def _connection(connection_class: Any, kwargs: dict[str, Any]) -> Any:
    """A new connection with the client's settings, outside its pool.

    redis-py's own read timeout is off on it: the store bounds each reply from
    the moment its command is written, and connecting by ``connect_timeout``.
    """
    return connection_class(**{**kwargs, "socket_timeout": None})


def address(pool: Any) -> str:
    """How messages name a standalone or Sentinel-managed server."""
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"sentinel service {service!r}"
    kwargs = pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
