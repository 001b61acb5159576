"""Redis Cluster specifics: one slot per decision, and a failover."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from redis.asyncio.cluster import RedisCluster as ClusterClient

from ratelimit_core import Limiter
from ratelimit_redis import RedisStore


async def test_every_key_of_a_decision_shares_a_slot(cluster_client: ClusterClient) -> None:
    store = RedisStore(cluster_client, timeout=5)
    limiter = Limiter("10/second; 100/minute; 1000/hour", store=store)
    for identity in ["a", "b", "{x}", "user:42", ""]:
        await limiter.hit(identity)
        await limiter.block(identity, 1)
        slots = {cluster_client.keyslot(k) for k in store.key_of(limiter.policy, identity)}
        assert len(slots) == 1


async def test_decisions_go_on_after_a_replica_takes_over(redis_cluster: Any, cluster_client: ClusterClient) -> None:
    store = RedisStore(cluster_client, timeout=5)
    limiter = Limiter("5/hour", store=store, name="failover")
    await limiter.hit("k", 2)
    key, _block = store.key_of(limiter.policy, "k")  # the rate's state, then the block's
    node = cluster_client.get_node_from_key(key)
    assert node is not None
    master_port = int(node.port)
    replicas = subprocess.run(
        ["redis-cli", "-p", str(master_port), "cluster", "replicas", _node_id(master_port)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    replica_port = next(int(line.split()[1].split(":")[1].split("@")[0]) for line in replicas.splitlines() if line)
    for _ in range(100):  # a fresh cluster's replicas may still be syncing
        if "master_link_status:up" in _cli(replica_port, "info", "replication"):
            break
        await asyncio.sleep(0.1)
    assert _cli(master_port, "wait", "1", "2000").strip() == "1", "the write reached the replica"
    assert _cli(replica_port, "cluster", "failover").strip() == "OK"
    for _ in range(100):
        role = subprocess.run(
            ["redis-cli", "-p", str(replica_port), "role"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        if role == "master":
            break
        await asyncio.sleep(0.1)
    assert role == "master"
    decision = None
    for _ in range(20):  # the client learns the new topology from MOVED
        decision = await limiter.hit("k")
        if not decision.degraded:
            break
    assert decision is not None
    assert decision.allowed
    assert decision.remaining == 2, "the replica had the two units already taken"


def _cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True).stdout


def _node_id(port: int) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "myid"], capture_output=True, text=True, check=True
    ).stdout.strip()


async def test_script_flush_on_every_node_is_recovered(cluster_client: ClusterClient) -> None:
    for algorithm in ("token_bucket", "fixed_window", "sliding_window_log", "sliding_window_counter"):
        limiter = Limiter("5/minute; 50/hour", algorithm=algorithm, store=RedisStore(cluster_client, timeout=5))
        assert (await limiter.hit("k")).remaining == 4
        await cluster_client.execute_command("SCRIPT FLUSH", target_nodes=ClusterClient.ALL_NODES)
        decision = await limiter.hit("k")
        assert decision.remaining == 3
        assert not decision.degraded
