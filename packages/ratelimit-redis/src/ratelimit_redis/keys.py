"""Key layout: ``<prefix>:<name>:<algorithm>:<rate>:{<identity digest>}``.

The prefix may hold colons (``"rl:tenant"``); the name's own colons, percent
signs and tildes are written ``%3A``, ``%25`` and ``%7E``, so the name is always the last
colon-free part before the algorithm and two different (prefix, name) pairs
never write the same key: ``rl:tenant`` + ``api`` gives ``rl:tenant:api:...``,
``rl`` + ``tenant:api`` gives ``rl:tenant%3Aapi:...``.

The identity is hashed to 16 characters (96 bits, base64url) inside one hash
tag, so that any identity (empty, braces, ``*``, ``a:b``, 10 kB of bytes) is
safe, distinct and short, and the keys of every rate of one decision share a
Redis Cluster slot (a concurrency cap's slots too:
``<prefix>:<name>:cc:<limit>:{<identity digest>}``, a sorted set; and the
identity's block, ``<prefix>:<name>:blk:{<identity digest>}``, the µs it ends;
its note, ``<prefix>:<name>:note:{<identity digest>}``, outside decisions). Short keys
matter: in Redis 7 a key of up to 60 bytes with an integer value costs 104
bytes, one of 61 to 76 bytes 120; hence the short algorithm codes (``tb``,
``fw``, ``swl``, ``swc``) and periods (``1h``).
"""

from __future__ import annotations

import base64
import hashlib

from ratelimit_core import Algorithm, Policy, Rate

__all__ = ["MAX_KEY_BYTES", "block_base", "digest", "digest_bytes", "key_bases", "note_base"]

_b64 = base64.urlsafe_b64encode
_blake2b = hashlib.blake2b

MAX_KEY_BYTES = 128
_TAG_BYTES = 2 + 16  # "{" + digest + "}"


def digest_bytes(identity: str | bytes) -> bytes:
    """16 bytes of text that stand for ``identity``: base64url of 96 bits of BLAKE2b."""
    data = identity if isinstance(identity, bytes) else identity.encode("utf-8", "surrogatepass")
    return _b64(_blake2b(data, digest_size=12).digest())


def digest(identity: str | bytes) -> str:
    """:func:`digest_bytes` as a string."""
    return digest_bytes(identity).decode("ascii")


#: The algorithm as keys name it.
CODES = {
    Algorithm.TOKEN_BUCKET: "tb",
    Algorithm.FIXED_WINDOW: "fw",
    Algorithm.SLIDING_WINDOW_LOG: "swl",
    Algorithm.SLIDING_WINDOW_COUNTER: "swc",
}

_UNITS = ((86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "min"), (1_000_000, "s"), (1000, "ms"), (1, "us"))


def _period(rate: Rate) -> str:
    us = rate.period_us
    for size, unit in _UNITS:
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("unreachable: every period is a whole number of µs")  # pragma: no cover


def _rate(rate: Rate) -> str:
    text = f"{rate.limit}/{_period(rate)}"
    return text if rate.burst is None else f"{text}:b{rate.burst}"


def _escape(name: str) -> str:
    """The name without colons, and without the ``~`` that marks a digested name."""
    return name.replace("%", "%25").replace(":", "%3A").replace("~", "%7E")


def key_bases(prefix: str, policy: Policy) -> tuple[str, ...]:
    """One key base per rate of ``policy``, then one for its cap's slots; a key is ``base + "{" + digest + "}"``.

    A limiter name that would make keys longer than :data:`MAX_KEY_BYTES`, or
    that holds a brace (which would move the hash tag), is replaced by its digest.
    """
    name = _escape(policy.name)
    bases = _bases(prefix, name, policy)
    if "{" in name or "}" in name or max(len(b.encode()) for b in bases) + _TAG_BYTES > MAX_KEY_BYTES:
        bases = _bases(prefix, "~" + digest(name), policy)
    return bases


def block_base(prefix: str, name: str) -> str:
    """The base of a key's block: the limiter's name alone, so every limiter of that name finds it.

    A name is replaced by its digest under the same rule as :func:`key_bases`,
    applied to this key alone (it must not depend on a limiter's rates).
    """
    return _name_base(prefix, name, "blk")


def note_base(prefix: str, name: str) -> str:
    """The base of a key's note (``ratelimit_core.store.Noting``): the limiter's name alone, as a block's."""
    return _name_base(prefix, name, "note")


def _name_base(prefix: str, name: str, kind: str) -> str:
    base = f"{prefix}:{_escape(name)}:{kind}:"
    if "{" in name or "}" in name or len(base.encode()) + _TAG_BYTES > MAX_KEY_BYTES:
        base = f"{prefix}:~{digest(_escape(name))}:{kind}:"
    return base


def _bases(prefix: str, name: str, policy: Policy) -> tuple[str, ...]:
    code = CODES[policy.algorithm]
    bases = tuple(f"{prefix}:{name}:{code}:{_rate(r)}:" for r in policy.rates)
    if policy.cap is not None:
        bases += (f"{prefix}:{name}:cc:{policy.cap.limit}:",)
    return bases
