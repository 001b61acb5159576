"""RedisStore: each decision is one atomic Lua script on the server's clock."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from ratelimit_core import Algorithm, Decision, Policy, StoreError
from ratelimit_core.algorithms import TokenBucket
from ratelimit_redis.batching import Batcher, BatchScript
from ratelimit_redis.keys import digest, digest_bytes, key_bases
from ratelimit_redis.scripts import source
from ratelimit_redis.wire import pack, pack_prefix

__all__ = ["RedisStore"]

_EXACT = 2**53  # Lua numbers are doubles: integers are exact below this
_HIT, _PEEK = b"hit", b"peek"
_PACKED_LIMIT = 800_000_000  # window states pack counts in base limit + 1, below 9e8
_DENY_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a policy needs on Redis, computed once: key bases, script, parameters."""

    bases: tuple[str, ...]
    keys: tuple[bytes, ...]  # the bases as bytes, each with the opening brace of the hash tag
    script: Any  # a redis-py AsyncScript (cluster), or a BatchScript (batched)
    params: bytes  # ARGV[4]: every rate's parameters, comma-separated
    prefix: bytes  # the packed "EVALSHA <sha> <number of keys>" (batched)
    count: int  # arguments of the whole EVALSHA command


class RedisStore:
    """Limiter state in Redis: one ``EVALSHA`` per decision, all rates in that one call.

    Args:
        client: Your ``redis.asyncio.Redis``, ``redis.asyncio.RedisCluster`` or a
            Sentinel-managed master client. The store never creates or closes it.
            ``decode_responses`` may be on or off.
        prefix: The first part of every key (no braces).
        timeout: Seconds a decision may take, or ``None`` for no bound. When it
            passes (Redis stalled), the limiter's failure policy applies.
        deny_cache: Answer a key that was denied until ``T`` locally until ``T``
            (for the same cost), without a round trip; at most 10,000 denials
            are remembered, the oldest forgotten first.
        clock: For tests only: a callable returning seconds, sent to the scripts
            instead of the server's ``TIME``.

    Raises:
        ValueError: for a bad prefix, timeout or clock.

    Backend failures (connection lost, timeout, ``OOM``, ``READONLY``, cluster
    errors) raise :class:`~ratelimit_core.StoreError`; a script missing after a
    restart, failover or ``SCRIPT FLUSH`` is loaded again on the same call.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "ratelimit",
        timeout: float | None = 0.05,
        deny_cache: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix or len(prefix) > 32:
            raise ValueError(f"prefix must be 1 to 32 characters without braces, got {prefix!r}")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (math.isfinite(timeout) and timeout > 0)
        ):
            raise ValueError(f"timeout must be None or a finite number of seconds > 0, got {timeout!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        if not hasattr(client, "register_script"):
            raise ValueError(f"client must be a redis.asyncio client, got {client!r}")
        self._client = client
        # redis-py's cluster client learns its topology on first use; many first
        # decisions at once would race there, so the store does it once, first.
        self._ready = not isinstance(client, RedisCluster)
        self._ready_lock = asyncio.Lock()
        # Standalone and Sentinel clients: concurrent decisions share pipelines. redis-py
        # carries no scripts in cluster pipelines, so cluster decisions go one by one.
        self._batcher = None if isinstance(client, RedisCluster) else Batcher(client, timeout)
        self._prefix = prefix
        self._timeout = timeout
        self._clock = clock
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._scripts: dict[Algorithm, Any] = {}
        # (key base, identity digest, cost) -> (when denied in local seconds, its retry_after, the denial)
        self._denied: OrderedDict[tuple[str, bytes, int], tuple[float, float, Decision]] | None = (
            OrderedDict() if deny_cache else None
        )

    def __repr__(self) -> str:
        return (
            f"RedisStore({self._client!r}, prefix={self._prefix!r}, timeout={self._timeout!r}, "
            f"deny_cache={self._denied is not None}, limiters={len(self._plans)})"
        )

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        plan = self._plans.get(policy.namespaces) or self._plan(policy)
        tag = digest_bytes(key)
        if self._denied is None:
            return await self._run(policy, plan, tag, _HIT, cost)
        cache_key = (plan.bases[0], tag, cost)
        cached = self._denied.get(cache_key)
        if cached is not None:
            made, wait, denial = cached
            elapsed = self._local_now() - made
            if elapsed < wait:
                return replace(
                    denial,
                    retry_after=_us_ceil(wait - elapsed),
                    reset_after=_us_ceil(max(0.0, denial.reset_after - elapsed)),
                )
            del self._denied[cache_key]
        decision = await self._run(policy, plan, tag, _HIT, cost)
        if not decision.allowed and decision.retry_after is not None:
            self._denied[cache_key] = (self._local_now(), decision.retry_after, decision)
            if len(self._denied) > _DENY_CACHE_SIZE:
                self._denied.popitem(last=False)
        return decision

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        plan = self._plans.get(policy.namespaces) or self._plan(policy)
        return await self._run(policy, plan, digest_bytes(key), _PEEK, cost)

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        plan = self._plans.get(policy.namespaces) or self._plan(policy)
        tag = digest_bytes(key)
        if self._denied is not None:
            for cached in [k for k in self._denied if k[0] == plan.bases[0] and k[1] == tag]:
                del self._denied[cached]
        keys = [key + tag + b"}" for key in plan.keys]
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.delete(*keys)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis failed to reset: {type(exc).__name__}: {exc}") from exc

    def prepare(self, policy: Policy) -> None:
        """Check that ``policy`` runs exactly in Lua, and compute its keys and parameters.

        Raises:
            ValueError: a rate beyond exact double-precision arithmetic.
        """
        if policy.namespaces not in self._plans:
            self._plan(policy)

    def key_of(self, policy: Policy, key: str) -> tuple[str, ...]:
        """The Redis keys that hold ``key``'s state under ``policy``, one per rate."""
        plan = self._plans.get(policy.namespaces) or self._plan(policy)
        tag = digest(key)
        return tuple(f"{base}{{{tag}}}" for base in plan.bases)

    async def _run(self, policy: Policy, plan: _Plan, tag: bytes, mode: bytes, cost: int) -> Decision:
        now = b"" if self._clock is None else b"%d" % round(self._clock() * 1_000_000)
        try:
            if self._batcher is not None:  # it bounds every call by the timeout itself
                suffix = tag + b"}"
                items = [key + suffix for key in plan.keys]
                items += (mode, b"%d" % cost, now, plan.params)
                reply = await self._batcher.call(plan.script, pack(plan.count, plan.prefix, items))
            else:
                keys = [key + tag + b"}" for key in plan.keys]
                async with asyncio.timeout(self._timeout):
                    if not self._ready:
                        await self._get_ready()
                    reply = await plan.script(keys=keys, args=[mode, cost, now, plan.params])
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis failed to decide: {type(exc).__name__}: {exc}") from exc
        return _decision(policy, reply)

    async def _get_ready(self) -> None:
        async with self._ready_lock:
            if not self._ready:
                await self._client.initialize()
                self._ready = True

    def _local_now(self) -> float:
        return time.monotonic() if self._clock is None else self._clock()

    def _plan(self, policy: Policy) -> _Plan:
        """Key bases, script and parameters for ``policy``; checked once, then kept."""
        script = self._scripts.get(policy.algorithm)
        if script is None:
            text = source(policy.algorithm)
            script = BatchScript(text) if self._batcher is not None else self._client.register_script(text)
            self._scripts[policy.algorithm] = script
        params: list[int] = []
        for math_ in policy.maths:
            rate = math_.rate
            if isinstance(math_, TokenBucket):
                if math_.scale * 1_000_000_000 >= _EXACT or math_.tolerance >= _EXACT:
                    raise ValueError(f"rate {rate} is too fine for exact arithmetic in Redis")
                params += [math_.scale, math_.interval, math_.capacity, math_.tolerance]
            else:
                if rate.limit * rate.period_us >= _EXACT:
                    raise ValueError(f"rate {rate}: limit x period in µs must stay below 2^53 in Redis")
                if policy.algorithm is not Algorithm.SLIDING_WINDOW_LOG and rate.limit >= _PACKED_LIMIT:
                    raise ValueError(f"rate {rate}: limits of {_PACKED_LIMIT:,} or more do not fit a Redis state")
                params += [rate.limit, rate.period_us]
        bases = key_bases(self._prefix, policy)
        sha = script.sha.encode() if isinstance(script, BatchScript) else b""
        plan = _Plan(
            bases,
            tuple(base.encode() + b"{" for base in bases),
            script,
            b",".join(b"%d" % p for p in params),
            pack_prefix(b"EVALSHA", sha, b"%d" % len(bases)),
            3 + len(bases) + 4,
        )
        self._plans[policy.namespaces] = plan
        return plan


def _us_ceil(seconds: float) -> float:
    return math.ceil(seconds * 1_000_000) / 1_000_000


def _decision(policy: Policy, reply: bytes | str) -> Decision:
    """The script's reply, ``"allowed remaining reset_us retry_us"`` per rate, as a Decision."""
    n = [int(x) for x in reply.split()]
    if len(n) == 4:
        return policy.decision_of(n[0] == 1, n[1], n[2], None if n[3] < 0 else n[3])
    return policy.decision(
        [(n[i] == 1, n[i + 1], n[i + 2], None if n[i + 3] < 0 else n[i + 3]) for i in range(0, len(n), 4)]
    )
