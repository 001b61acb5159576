"""Auto-batching: decisions issued while others are in flight share one pipeline.

A call made while nothing else is in flight goes out at once, as a plain
``EVALSHA``: a lone caller pays nothing for batching. A call made while
others are in flight is queued; the first one queued in a turn of the event
loop schedules a flush for the end of that turn, which sends everything
queued so far as one pipeline of ``EVALSHA`` commands (no ``MULTI``: each
script is atomic on its own). Under concurrency a busy process pays one round
trip per batch instead of one per decision. Every call, alone or batched, is
bounded by the store's timeout.

A script missing on the server (``NOSCRIPT`` after a restart, a failover or
``SCRIPT FLUSH``) is loaded, and the commands that met it are sent again in
the same flush, so the callers never see it.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from ratelimit_redis.wire import Wire, pack, pack_prefix

_SCRIPT_LOAD = pack_prefix(b"SCRIPT", b"LOAD")

__all__ = ["Batcher"]


@dataclass(frozen=True, slots=True)
class BatchScript:
    """A script as the batcher sends it: its text and ``SHA1``."""

    source: bytes
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source, usedforsecurity=False).hexdigest())


@dataclass(slots=True)
class _Call:
    script: BatchScript
    command: bytes  # packed EVALSHA
    future: asyncio.Future[Any]


class Batcher:
    """Coalesces script calls on one client (standalone or Sentinel) into pipelines."""

    __slots__ = ("_alone", "_flights", "_pending", "_timeout", "_wire")

    def __init__(self, client: Any, timeout: float | None) -> None:
        self._wire = Wire(client)
        self._timeout = timeout  # bounds each round trip: a stalled server holds no caller forever
        self._pending: list[_Call] = []
        self._alone = 0  # plain calls in flight
        self._flights: set[asyncio.Task[None]] = set()  # pipelines in flight, kept alive

    def __repr__(self) -> str:
        return f"Batcher(queued={len(self._pending)}, in_flight={len(self._flights) + self._alone})"

    async def call(self, script: BatchScript, command: bytes) -> Any:
        """Run one packed ``EVALSHA`` of ``script``: alone if nothing else is in flight, else in the next batch."""
        if not self._alone and not self._flights and not self._pending:
            self._alone += 1
            try:
                async with asyncio.timeout(self._timeout):
                    (reply,) = await self._send_all([script], [command], own=True)
            finally:
                self._alone -= 1
            if isinstance(reply, Exception):
                raise reply
            return reply
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append(_Call(script, command, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        batch = [call for call in batch if not call.future.done()]  # callers that gave up
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._flights.add(task)
            task.add_done_callback(self._flights.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._send_all([c.script for c in batch], [c.command for c in batch], own=False)
        except BaseException as exc:
            error = exc if isinstance(exc, Exception) else RedisConnectionError("the batch was cancelled")
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done():
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _send_all(self, scripts: list[BatchScript], commands: list[bytes], *, own: bool) -> list[Any]:
        """One pipeline; the commands that met ``NOSCRIPT`` again, behind ``SCRIPT LOAD``, in a second one.

        ``own``: on the connection kept for lone calls. Only the lone call may
        use it: a batch, even of one, runs while the lone call may be waiting
        on that connection.
        """
        replies = await self._wire.send(commands, own=own)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            sources = list({scripts[i].sha: scripts[i].source for i in missing}.values())
            loads = [pack(3, _SCRIPT_LOAD, [source]) for source in sources]
            again = await self._wire.send(loads + [commands[i] for i in missing], own=own)
            for loaded in again[: len(loads)]:
                if isinstance(loaded, Exception):
                    raise loaded
            for i, reply in zip(missing, again[len(loads) :], strict=True):
                replies[i] = reply
        return replies
