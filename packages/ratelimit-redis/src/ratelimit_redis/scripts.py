"""The Lua scripts, one per algorithm, read from the package's ``lua/`` folder."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from ratelimit_core import Algorithm

__all__ = ["NOTE_SHA", "NOTE_SOURCE", "sha", "source"]

#: The algorithms whose states are packed into big integers (``bigint.lua``).
_PACKED = {Algorithm.FIXED_WINDOW, Algorithm.SLIDING_WINDOW_COUNTER}


@cache
def source(algorithm: Algorithm) -> bytes:
    """The full script for ``algorithm``: ``common.lua``, ``bigint.lua`` if it packs its state, its own file.

    What a script does not use, it does not define: Redis runs the whole text
    on every call, and each function defined is a closure made each time.
    """
    folder = files("ratelimit_redis") / "lua"
    parts = ["common.lua", *(["bigint.lua"] if algorithm in _PACKED else []), f"{algorithm.value}.lua"]
    return b"\n".join((folder / part).read_bytes() for part in parts)


@cache
def sha(algorithm: Algorithm) -> str:
    """The ``SHA1`` by which ``EVALSHA`` names the script of ``algorithm``."""
    return _sha(source(algorithm))


def _sha(text: bytes) -> str:
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()


#: The notes' script (``note.lua``): a script of its own, since notes are no part of a decision.
NOTE_SOURCE = (files("ratelimit_redis") / "lua" / "note.lua").read_bytes()
#: The ``SHA1`` that names it.
NOTE_SHA = _sha(NOTE_SOURCE)
