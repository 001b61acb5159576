"""The Lua scripts, one per algorithm, read from the package's ``lua/`` folder."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from ratelimit_core import Algorithm

__all__ = ["PARAMS", "sha", "source"]

#: How many ARGV values each rate takes, per algorithm (see the scripts' headers).
PARAMS = {
    Algorithm.TOKEN_BUCKET: 4,
    Algorithm.FIXED_WINDOW: 2,
    Algorithm.SLIDING_WINDOW_LOG: 2,
    Algorithm.SLIDING_WINDOW_COUNTER: 2,
}


@cache
def source(algorithm: Algorithm) -> bytes:
    """The full script for ``algorithm``: ``common.lua`` followed by the algorithm's file."""
    folder = files("ratelimit_redis") / "lua"
    return (folder / "common.lua").read_bytes() + b"\n" + (folder / f"{algorithm.value}.lua").read_bytes()


@cache
def sha(algorithm: Algorithm) -> str:
    """The ``SHA1`` by which ``EVALSHA`` names the script of ``algorithm``."""
    return hashlib.sha1(source(algorithm), usedforsecurity=False).hexdigest()
