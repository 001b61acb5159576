"""Redis Cluster: each decision goes to the primary that holds its slot, one :class:`Server` per primary.

Every key of a decision shares one hash tag, hence one slot. The topology is
redis-py's (``RedisCluster``'s slot table), learnt once before the first
decision and refreshed in the background when a node says ``MOVED`` or stops
answering (a failover may follow). A ``MOVED`` reply is believed at once: the
call goes again to the node it names, and so do later calls for that slot
until the refreshed table agrees (the nodes' gossip can lag a failover). An
``ASK`` (a slot in migration) is a failure for the failure policy. Each
primary gets its own private, multiplexed connection: concurrent decisions
for one node share its writes, which is batching per node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import MovedError, RedisError

from ratelimit_redis.server import Server

__all__ = ["ClusterServers"]

#: A topology refresh after a node failed is made at most this often (seconds).
_REFRESH_EVERY = 0.25


class ClusterServers:
    """Routes each call to the right primary; see the module's docstring."""

    __slots__ = (
        "_client",
        "_connect_timeout",
        "_last_refresh",
        "_make",
        "_moved",
        "_ready",
        "_refreshing",
        "_servers",
    )

    def __init__(
        self, client: RedisCluster, make: Callable[[str, Any, dict[str, Any]], Server], *, connect_timeout: float
    ) -> None:
        """``make(name, connection_class, connection_kwargs)`` builds the :class:`Server` of one node."""
        self._client = client
        self._make = make
        self._connect_timeout = connect_timeout
        self._servers: dict[str, Server] = {}
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = -float("inf")
        self._ready = False  # the slot table has been read
        # slot -> "host:port" learnt from MOVED, until redis-py's slot table agrees
        self._moved: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"ClusterServers({list(self._servers.values())!r})"

    async def run(self, key: bytes, command: bytes, again: Callable[[], bytes] | None = None) -> Any:
        """Run ``command`` on the primary of ``key``'s slot; see :meth:`Server.run`."""
        if not self._ready:
            await self._refresh()
        try:
            return await self._server(key).run(key, command, again)
        except MovedError as exc:  # the slot is elsewhere now: believe the node that says so
            self._moved[exc.slot_id] = f"{exc.host}:{exc.port}"
            self._refresh_soon()
            return await self._server(key).run(key, command, again)
        except (RedisError, OSError, TimeoutError):
            self._refresh_soon()
            raise

    def _server(self, key: bytes) -> Server:
        name = self._moved.get(self._client.keyslot(key)) if self._moved else None
        node: ClusterNode | None
        if name is None:
            node = self._client.get_node_from_key(key)  # type: ignore[arg-type]  # str or bytes alike
            if node is None:  # pragma: no cover - redis-py raises SlotNotCoveredError first
                raise RedisError("no cluster node holds this key's slot")
            name = node.name
        else:
            node = self._client.get_node(node_name=name)
        server = self._servers.get(name)
        if server is None:
            if node is not None:
                server = self._make(name, node.connection_class, node.connection_kwargs)
            else:  # a node the slot table does not know yet: the settings of one it knows, at its address
                known = self._client.get_nodes()[0]
                host, port = name.rsplit(":", 1)
                kwargs = {**known.connection_kwargs, "host": host, "port": int(port)}
                server = self._make(name, known.connection_class, kwargs)
            self._servers[name] = server
        return server

    async def _refresh(self) -> None:
        """Read the slot table (once, however many callers ask at the same time)."""
        task = self._refreshing or self._start_refresh()
        await asyncio.shield(task)

    def _refresh_soon(self) -> None:
        """After a node failed: read the slot table in the background, at most every 0.25 s."""
        if self._refreshing is None and asyncio.get_running_loop().time() - self._last_refresh >= _REFRESH_EVERY:
            self._start_refresh()

    def _start_refresh(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        self._last_refresh = loop.time()
        task = self._refreshing = loop.create_task(self._read_slots())
        task.add_done_callback(self._refreshed)
        return task

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved: a refresh in the background may have no waiter

    async def _read_slots(self) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._ready:
                    await self._client.nodes_manager.initialize()
                else:
                    await self._client.initialize()
        except TimeoutError:
            raise TimeoutError(f"could not read the cluster's slots within {self._connect_timeout:g} s") from None
        self._ready = True
        slots = self._client.nodes_manager.slots_cache
        self._moved = {
            slot: name for slot, name in self._moved.items() if not slots.get(slot) or slots[slot][0].name != name
        }

    async def aclose(self) -> None:
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            await server.aclose()
