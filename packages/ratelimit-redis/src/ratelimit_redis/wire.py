"""Commands packed once, in the Redis protocol (RESP).

The store sends one ``EVALSHA`` per decision, with arguments that barely
change: the constant head is packed once per limiter, and only the keys and
the cost per call.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["pack", "pack_prefix"]


def _bulk(item: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(item), item)


def pack_prefix(*items: bytes) -> bytes:
    """The constant leading arguments of a command, packed (without the ``*N`` header)."""
    return b"".join(_bulk(item) for item in items)


def pack(count: int, prefix: bytes, items: Sequence[bytes]) -> bytes:
    """One command: ``count`` arguments in all, ``prefix`` from :func:`pack_prefix`, then ``items``."""
    return b"*%d\r\n%s%s" % (count, prefix, b"".join([b"$%d\r\n%s\r\n" % (len(i), i) for i in items]))
