"""RedisStore: each decision is one atomic Lua script on the server's clock."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from ratelimit_core import Algorithm, Decision, Policy, StoreError
from ratelimit_core.algorithms import TokenBucket
from ratelimit_core.algorithms.token_bucket import MAX_DEBT
from ratelimit_core.observe import Observer
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.channel import Channel
from ratelimit_redis.cluster import ClusterServers
from ratelimit_redis.deny_cache import DenyCache
from ratelimit_redis.keys import digest, digest_bytes, key_bases
from ratelimit_redis.scripts import sha, source
from ratelimit_redis.server import Server
from ratelimit_redis.wire import pack, pack_prefix

__all__ = ["MAX_LOG_LIMIT", "RedisStore"]

logger = logging.getLogger("ratelimit_redis")

_EXACT = 2**53  # Lua numbers are doubles: integers are exact below this
_HIT, _PEEK, _CHARGE, _REFUND, _RESERVE = b"hit", b"peek", b"charge", b"refund", b"reserve"
_ACQUIRE, _RELEASE, _RENEW = b"acquire", b"release", b"renew"
_DEL = pack_prefix(b"DEL")
_PACKED_LIMIT = 800_000_000  # window states pack counts in base limit + 1, below 9e8
#: The largest sliding-log limit on Redis: one 8-byte entry per unit, so at most 8 MB per key and per hit.
MAX_LOG_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a policy needs on Redis, computed once: keys, parameters, the packed command heads."""

    bases: tuple[str, ...]
    keys: tuple[bytes, ...]  # the bases as bytes, each with the opening brace of the hash tag
    params: bytes  # ARGV[4]: every rate's parameters, comma-separated
    cap: tuple[bytes, bytes] | None  # ARGV[6] and ARGV[7] with a concurrency cap: its limit and lease (µs)
    evalsha: bytes  # the packed "EVALSHA <sha> <number of keys>"
    eval: bytes  # the packed "EVAL <source> <number of keys>", for a server without the script
    count: int  # arguments of the whole command


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
        deny_cache: Answer a key of a one-rate limiter that Redis denied at cost 1
            locally, until its ``retry_after``, with the answer Redis would give
            (see :mod:`ratelimit_redis.deny_cache`); at most 10,000 denials kept.
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
        deny_cache: bool = False,
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
        self._observer = observer
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._breaker = (breaker_failures, breaker_cooldown)
        self._clock = clock
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._denied = DenyCache() if deny_cache else None
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
            f"breaker_cooldown={cooldown!r}, deny_cache={self._denied is not None}, limiters={len(self._plans)})"
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
        plan = self._plans.get(policy.signature) or self._plan(policy)
        tag = digest_bytes(key)
        cache = self._denied
        if cache is None or cost != 1 or len(plan.keys) != 1:
            return await self._run(policy, plan, tag, _HIT, cost)
        sent = self._local_now()
        cached = cache.get(policy.namespaces, tag, sent)
        if cached is not None:
            if self._observer is not None:
                self._observer.deny_cache_hit(self.label, policy.name)
            return cached
        decision = await self._run(policy, plan, tag, _HIT, cost)
        cache.put(policy.namespaces, tag, sent, decision)
        return decision

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        return await self._run(policy, plan, digest_bytes(key), _PEEK, cost)

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`. One script call, every rate."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        return await self._run(policy, plan, digest_bytes(key), _CHARGE, cost)

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`. One script call, every rate."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        tag = digest_bytes(key)
        if self._denied is not None:  # the room given back makes a remembered denial wrong
            self._denied.forget(policy.namespaces, tag, self._local_now())
        ends = b"" if until is None else b",".join(b"%d" % end for end in until)
        return await self._run(policy, plan, tag, _REFUND, cost, until=ends)

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`. One script call: a hit, and the server's time of it."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        reply = await self._call(plan, digest_bytes(key), _RESERVE, cost, b"", b"")
        numbers, now = reply.rsplit(b" ", 1)
        decision = _decision(policy, numbers)
        at = int(now)
        resets = [int(value) for value in numbers.split()[2::4]]
        return decision, tuple(at + reset for reset in resets)

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`. One script call: the rates and the slot."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        return await self._run(policy, plan, digest_bytes(key), _ACQUIRE, cost, holder.encode())

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        await self._call(plan, digest_bytes(key), _RELEASE, 0, holder.encode(), b"")

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        return await self._call(plan, digest_bytes(key), _RENEW, 0, holder.encode(), b"") == b"1"

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        tag = digest_bytes(key)
        if self._denied is not None:
            self._denied.forget(policy.namespaces, tag, self._local_now())
        keys = [base + tag + b"}" for base in plan.keys]
        try:
            await self._servers.run(keys[0], pack(1 + len(keys), _DEL, keys))
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis failed to reset: {type(exc).__name__}: {exc}") from exc

    def prepare(self, policy: Policy) -> None:
        """Check that ``policy`` runs exactly in Lua, and compute its keys and parameters.

        Raises:
            ValueError: a rate beyond exact double-precision arithmetic, or a
                sliding log above :data:`MAX_LOG_LIMIT` units.
        """
        if policy.signature not in self._plans:
            self._plan(policy)

    def key_of(self, policy: Policy, key: str) -> tuple[str, ...]:
        """The Redis keys that hold ``key``'s state under ``policy``, one per rate."""
        plan = self._plans.get(policy.signature) or self._plan(policy)
        tag = digest(key)
        return tuple(f"{base}{{{tag}}}" for base in plan.bases)

    # -- internals ---------------------------------------------------------------------

    async def _run(
        self, policy: Policy, plan: _Plan, tag: bytes, mode: bytes, cost: int, holder: bytes = b"", until: bytes = b""
    ) -> Decision:
        return _decision(policy, await self._call(plan, tag, mode, cost, holder, until))

    async def _call(self, plan: _Plan, tag: bytes, mode: bytes, cost: int, holder: bytes, until: bytes) -> bytes:
        """One script call for ``mode``: the reply."""
        now = b"" if self._clock is None else b"%d" % round(self._clock() * 1_000_000)
        suffix = tag + b"}"
        items = [base + suffix for base in plan.keys]
        items += (mode, b"%d" % cost, now, plan.params, until)
        if plan.cap is not None:
            items += (*plan.cap, holder)
        try:
            reply = await self._servers.run(
                items[0], pack(plan.count, plan.evalsha, items), lambda: pack(plan.count, plan.eval, items)
            )
        except StoreError:
            raise
        except ResponseError as exc:
            text = str(exc)
            if text.startswith("unknown command") or "engine" in text.lower():
                raise StoreError(
                    f"redis cannot run Lua scripts ({text!r}): the store needs EVAL and EVALSHA with a Lua "
                    "engine (a Valkey built or started without its Lua module has none)"
                ) from exc
            raise StoreError(f"redis failed to decide: {type(exc).__name__}: {exc}") from exc
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis failed to decide: {type(exc).__name__}: {exc}") from exc
        result: bytes = reply
        return result

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

    def _local_now(self) -> int:
        """Microseconds of a local clock (the injected one, in tests), for the deny cache."""
        return time.monotonic_ns() // 1000 if self._clock is None else round(self._clock() * 1_000_000)

    def _plan(self, policy: Policy) -> _Plan:
        """Key bases and parameters for ``policy``; checked once, then kept."""
        params: list[int] = []
        for math_ in policy.maths:
            rate = math_.rate
            if isinstance(math_, TokenBucket):
                # A debt (at most MAX_DEBT, 2^52) plus a capacity of ticks must stay exact: within 2^53.
                if math_.scale * 1_000_000_000 >= _EXACT or math_.tolerance > MAX_DEBT:
                    raise ValueError(f"rate {rate} is too fine for exact arithmetic in Redis")
                params += [math_.scale, math_.interval, math_.capacity, math_.tolerance]
                continue
            if rate.period_us >= _EXACT // 4:
                raise ValueError(f"rate {rate}: the period must stay below 2^51 µs (71 years) in Redis")
            if policy.algorithm is Algorithm.SLIDING_WINDOW_LOG:
                if rate.limit > MAX_LOG_LIMIT:
                    raise ValueError(
                        f"rate {rate}: a sliding log keeps 8 bytes per unit; at most {MAX_LOG_LIMIT:,} units "
                        "per window on Redis (choose the sliding window counter for larger limits)"
                    )
            elif rate.limit >= _PACKED_LIMIT:
                raise ValueError(f"rate {rate}: limits of {_PACKED_LIMIT:,} or more do not fit a Redis state")
            params += [rate.limit, rate.period_us]
        cap = policy.cap
        if cap is not None and cap.lease_us >= _EXACT // 4:
            raise ValueError(f"{cap}: the lease must stay below 2^51 µs in Redis")
        bases = key_bases(self._prefix, policy)
        count = b"%d" % len(bases)
        plan = _Plan(
            bases,
            tuple(base.encode() + b"{" for base in bases),
            b",".join(b"%d" % p for p in params),
            None if cap is None else (b"%d" % cap.limit, b"%d" % cap.lease_us),
            pack_prefix(b"EVALSHA", sha(policy.algorithm).encode(), count),
            pack_prefix(b"EVAL", source(policy.algorithm), count),
            3 + len(bases) + 5 + (0 if cap is None else 3),
        )
        self._plans[policy.signature] = plan
        return plan


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


def _decision(policy: Policy, reply: bytes) -> Decision:
    """The script's reply, ``"allowed remaining reset_us retry_us"`` per rate, as a Decision."""
    if policy.single is not None:
        allowed, remaining, reset, retry = reply.split()
        return policy.decision_of(allowed == b"1", int(remaining), int(reset), None if retry == b"-1" else int(retry))
    n = [int(x) for x in reply.split()]
    return policy.decision(
        [(n[i] == 1, n[i + 1], n[i + 2], None if n[i + 3] < 0 else n[i + 3]) for i in range(0, len(n), 4)]
    )
