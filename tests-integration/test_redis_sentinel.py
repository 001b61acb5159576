"""A Sentinel-managed master: decisions go on after a failover, state carried over."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from redis.asyncio.sentinel import Sentinel

from ratelimit_core import Limiter
from ratelimit_redis import RedisStore


def _cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True).stdout


def _role(port: int) -> str:
    """The server's replication info, or "" while it drops its clients.

    A sentinel that promotes a replica sends it ``CLIENT KILL TYPE normal`` in the same
    transaction as ``REPLICAOF NO ONE``, so a poll that lands then loses its connection.
    """
    done = subprocess.run(
        ["redis-cli", "-p", str(port), "info", "replication"], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else ""


async def test_decisions_go_on_after_a_sentinel_failover(sentinel_setup: Any) -> None:
    sentinel = Sentinel([("127.0.0.1", sentinel_setup.sentinel_port)], socket_timeout=1)
    client = sentinel.master_for("mymaster", socket_timeout=1)
    try:
        limiter = Limiter("5/hour", store=RedisStore(client, timeout=2), name="sentinel")
        assert (await limiter.hit("k", 2)).remaining == 3
        assert _cli(sentinel_setup.master.port, "wait", "1", "2000").strip() == "1", "replicated"
        assert _cli(sentinel_setup.sentinel_port, "sentinel", "failover", "mymaster").strip() == "OK"
        for _ in range(200):
            if "role:master" in _role(sentinel_setup.replica.port):
                break
            await asyncio.sleep(0.05)
        assert "role:master" in _role(sentinel_setup.replica.port), "promoted within 10 s"
        decision = None
        for _ in range(100):  # in flight during the switch: failures go to the policy
            decision = await limiter.hit("k")
            if not decision.degraded:
                break
            await asyncio.sleep(0.05)
        assert decision is not None
        assert not decision.degraded
        assert decision.remaining in (2, 1), "the new master had what the old one held"
    finally:
        await client.aclose()
        for watcher in sentinel.sentinels:
            await watcher.aclose()
