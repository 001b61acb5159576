"""Commands packed once and pipelined on a redis-py connection pool.

The store sends one ``EVALSHA`` per decision, with arguments that barely
change: packing them here (the constant part once per limiter) and reading
the replies straight off a pooled connection costs a fraction of redis-py's
general command path. Used for standalone and Sentinel clients.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

__all__ = ["Wire", "pack", "pack_prefix"]


def _bulk(item: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(item), item)


def pack_prefix(*items: bytes) -> bytes:
    """The constant leading arguments of a command, packed (without the ``*N`` header)."""
    return b"".join(_bulk(item) for item in items)


def pack(count: int, prefix: bytes, items: Sequence[bytes]) -> bytes:
    """One command: ``count`` arguments in all, ``prefix`` from :func:`pack_prefix`, then ``items``."""
    return b"*%d\r\n%s%s" % (count, prefix, b"".join([b"$%d\r\n%s\r\n" % (len(i), i) for i in items]))


class Wire:
    """Sends packed commands on one pooled connection and reads every reply.

    An error reply becomes that command's result (an exception instance); a
    broken connection or a cancellation disconnects the connection before it
    goes back to the pool, so a half-read reply never reaches the next user.
    """

    __slots__ = ("_needs_name", "_own", "_pool")

    def __init__(self, client: Any) -> None:
        self._pool = client.connection_pool
        self._own: Any = None  # a connection kept for calls made one at a time
        # redis-py before 5.3 wants a command name here; later versions deprecate it.
        parameter = inspect.signature(self._pool.get_connection).parameters.get("command_name")
        self._needs_name = parameter is not None and parameter.default is inspect.Parameter.empty

    async def _connection(self) -> Any:
        pool = self._pool
        return await (pool.get_connection("EVALSHA") if self._needs_name else pool.get_connection())

    async def send(self, commands: Sequence[bytes], *, own: bool = False) -> list[Any]:
        """Send ``commands`` in one write and read every reply.

        ``own=True`` uses the connection kept for calls made one at a time
        (callers never overlap there): it spares a pool round (its lock and
        bookkeeping) per call, which is most of what a lone caller pays beyond
        the network. Otherwise a pooled connection is taken and given back.
        """
        if own:
            conn = self._own
            if conn is None:
                conn = self._own = await self._connection()
        else:
            conn = await self._connection()
        try:
            await conn.send_packed_command(commands[0] if len(commands) == 1 else b"".join(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    # The caller bounds the whole exchange (the store's timeout): no
                    # timer per reply on top of it (redis-py 8 sets 5 s per read).
                    replies.append(await conn.read_response(disable_decoding=True, timeout=math.inf))
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            if own:
                self._own = None
            await conn.disconnect(nowait=True)
            await self._pool.release(conn)
            raise
        if not own:
            await self._pool.release(conn)
        return replies
