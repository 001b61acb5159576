"""RedisStore: each decision is one atomic Lua script on the server's clock."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ratelimit_core import Decision, Policy
from ratelimit_core.observe import Observer, guarded
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.calls import CALL_ERRORS, MAX_LOG_LIMIT, Call, Script, decision_of, ends, failure, reserved
from ratelimit_redis.channel import Channel
from ratelimit_redis.cluster import ClusterServers
from ratelimit_redis.keys import digest, digest_bytes
from ratelimit_redis.server import Server

__all__ = ["MAX_LOG_LIMIT", "RedisStore"]

logger = logging.getLogger("ratelimit_redis")

_HIT, _PEEK, _CHARGE, _REFUND, _RESERVE = b"hit", b"peek", b"charge", b"refund", b"reserve"
_ACQUIRE, _RELEASE, _RENEW = b"acquire", b"release", b"renew"


class RedisStore:
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

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "redis"

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
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix or len(prefix) > 32:
            raise ValueError(f"prefix must be 1 to 32 characters without braces, got {prefix!r}")
        if timeout is not None and not _positive(timeout):
            raise ValueError(f"timeout must be None or a finite number of seconds > 0, got {timeout!r}")
        if not _positive(connect_timeout):
            raise ValueError(f"connect_timeout must be a finite number of seconds > 0, got {connect_timeout!r}")
        if breaker_failures is not None and (
            isinstance(breaker_failures, bool) or not isinstance(breaker_failures, int) or breaker_failures < 1
        ):
            raise ValueError(f"breaker_failures must be None or an int >= 1, got {breaker_failures!r}")
        if not _positive(breaker_cooldown):
            raise ValueError(f"breaker_cooldown must be a finite number of seconds > 0, got {breaker_cooldown!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        if observer is not None and not isinstance(observer, Observer):
            raise ValueError(f"observer must be a ratelimit_core.observe.Observer, got {observer!r}")
        self._observer = None if observer is None else guarded(observer)  # it never changes a decision
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._breaker = (breaker_failures, breaker_cooldown)
        self._clock = clock
        self._scripts: dict[tuple[str, ...], Script] = {}
        self._eviction_checked = False
        self._servers: Server | ClusterServers
        if isinstance(client, RedisCluster):
            self._servers = ClusterServers(client, self._node_server, connect_timeout=connect_timeout)
        else:
            pool = client.connection_pool
            self._servers = self._server(
                _address(pool), lambda: _connection(pool.connection_class, pool.connection_kwargs)
            )

    def __repr__(self) -> str:
        failures, cooldown = self._breaker
        return (
            f"RedisStore({self._servers!r}, prefix={self._prefix!r}, timeout={self._timeout!r}, "
            f"connect_timeout={self._connect_timeout!r}, breaker_failures={failures!r}, "
            f"breaker_cooldown={cooldown!r}, limiters={len(self._scripts)})"
        )

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
        return decision_of(
            policy, await self._send(self._script(policy).call(digest_bytes(key), _HIT, cost, self._now()))
        )

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        return decision_of(
            policy, await self._send(self._script(policy).call(digest_bytes(key), _PEEK, cost, self._now()))
        )

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`. One script call, every rate."""
        call = self._script(policy).call(digest_bytes(key), _CHARGE, cost, self._now())
        return decision_of(policy, await self._send(call))

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`. One script call, every rate."""
        call = self._script(policy).call(digest_bytes(key), _REFUND, cost, self._now(until=ends(until)))
        return decision_of(policy, await self._send(call))

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`. One script call: a hit, and the server's time of it."""
        call = self._script(policy).call(digest_bytes(key), _RESERVE, cost, self._now())
        return reserved(policy, await self._send(call))

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        await self._send(self._script(policy).delete(digest_bytes(key)), "reset")

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`. One script call: the rates and the slot."""
        call = self._script(policy).call(digest_bytes(key), _ACQUIRE, cost, self._now(holder=holder))
        return decision_of(policy, await self._send(call))

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        await self._send(self._script(policy).call(digest_bytes(key), _RELEASE, 0, self._now(holder=holder)))

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        call = self._script(policy).call(digest_bytes(key), _RENEW, 0, self._now(holder=holder))
        return await self._send(call) == b"1"

    def prepare(self, policy: Policy) -> None:
        """Check that ``policy`` runs exactly in Lua, and compute its keys and parameters.

        Raises:
            ValueError: a rate beyond exact double-precision arithmetic, or a
                sliding log above :data:`MAX_LOG_LIMIT` units.
        """
        self._script(policy)

    def key_of(self, policy: Policy, key: str) -> tuple[str, ...]:
        """The Redis keys that hold ``key``'s state under ``policy``, one per rate."""
        tag = digest(key)
        return tuple(f"{base}{{{tag}}}" for base in self._script(policy).bases)

    # -- internals ---------------------------------------------------------------------

    def _script(self, policy: Policy) -> Script:
        """The policy's script call, made once (its checks too)."""
        script = self._scripts.get(policy.signature)
        if script is None:
            script = self._scripts[policy.signature] = Script.of(self._prefix, policy)
        return script

    def _now(self, *, until: bytes = b"", holder: str = "") -> tuple[bytes, bytes, bytes]:
        """A call's (now, until, holder): now is a test clock's µs, or empty for the server's ``TIME``."""
        now = b"" if self._clock is None else b"%d" % round(self._clock() * 1_000_000)
        return now, until, holder.encode()

    async def _send(self, call: Call, doing: str = "decide") -> bytes:
        """One call on the store's connections: the reply, or a ``StoreError``."""
        try:
            reply: bytes = await self._servers.run(call.first_key, call.command, call.fallback)
        except CALL_ERRORS as exc:
            raise failure(exc, doing) from exc
        return reply

    def _server(self, address: str, factory: Callable[[], Any]) -> Server:
        failures, cooldown = self._breaker
        observer = self._observer
        on_batch = None if observer is None else partial(observer.batch, self.label)
        on_change = None if observer is None else partial(observer.breaker, self.label)
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
        breaker = None if failures is None else Breaker(failures, cooldown, on_change=on_change)
        return Server((first, second), breaker)

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
        values = list(reply.values()) if isinstance(reply, dict) else list(reply)[1::2]
        policy = values[0].decode() if values else "noeviction"
        if policy != "noeviction":
            logger.warning(
                "redis evicts keys under memory pressure (maxmemory-policy %s): it may delete rate limit "
                "state and admit more than the limits; only noeviction (or a Redis of its own) keeps limits",
                policy,
            )


def _positive(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0


def _connection(connection_class: Any, kwargs: dict[str, Any]) -> Any:
    """A new connection with the client's settings, outside its pool.

    redis-py's own read timeout is off on it: the store bounds each reply from
    the moment its command is written, and connecting by ``connect_timeout``.
    """
    return connection_class(**{**kwargs, "socket_timeout": None})


def _address(pool: Any) -> str:
    """How messages name a standalone or Sentinel-managed server."""
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"sentinel service {service!r}"
    kwargs = pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
