"""What both colours of ``RedisStore`` share: their settings, each policy's script, each operation's call and reply.

A shell sends the :class:`~ratelimit_redis.calls.Call` an operation builds
here (``await`` in ``ratelimit_redis.RedisStore``, a blocking exchange in
``ratelimit_redis.sync.RedisStore``) and reads the reply with the reader
given here: the same scripts, keys and decisions in both colours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from ratelimit_core import Policy
from ratelimit_core.notes import check_note
from ratelimit_core.observe import Observer, guarded
from ratelimit_redis.breaker import Breaker
from ratelimit_redis.calls import Call, Script, decision_of, ends, reserved
from ratelimit_redis.keys import digest, digest_bytes

__all__ = ["Reader", "RedisCore"]

logger = logging.getLogger("ratelimit_redis")

_HIT, _PEEK, _CHARGE, _REFUND, _RESERVE = b"hit", b"peek", b"charge", b"refund", b"reserve"
_ACQUIRE, _RELEASE, _RENEW, _BLOCK = b"acquire", b"release", b"renew", b"block"

#: A reply reader: the script's reply, read into the operation's answer.
Reader = Callable[[bytes], Any]


def _renewed(reply: bytes) -> bool:
    return reply == b"1"


def _nothing(reply: bytes) -> None:
    return None


def _note(reply: bytes | None) -> bytes | None:
    return reply


class RedisCore:
    """The settings of a store and the calls of its operations; no I/O. See ``RedisStore`` for the arguments."""

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "redis"

    def __init__(
        self,
        *,
        prefix: str,
        timeout: float | None,
        connect_timeout: float,
        breaker_failures: int | None,
        breaker_cooldown: float,
        clock: Callable[[], float] | None,
        observer: Observer | None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix or len(prefix) > 32:
            raise ValueError(f"prefix must be 1 to 32 characters without braces, got {prefix!r}")
        if timeout is not None and not _positive(timeout):
            raise ValueError(f"timeout must be None or a finite number of seconds > 0, got {timeout!r}")
        if not _positive(connect_timeout):
            raise ValueError(f"connect_timeout must be a finite number of seconds > 0, got {connect_timeout!r}")
        if breaker_failures is not None and (
            isinstance(breaker_failures, bool) or not isinstance(breaker_failures, int) or breaker_failures < 1
        ):
            raise ValueError(f"breaker_failures must be None or an int >= 1, got {breaker_failures!r}")
        if not _positive(breaker_cooldown):
            raise ValueError(f"breaker_cooldown must be a finite number of seconds > 0, got {breaker_cooldown!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        if observer is not None and not isinstance(observer, Observer):
            raise ValueError(f"observer must be a ratelimit_core.observe.Observer, got {observer!r}")
        self._observer = None if observer is None else guarded(observer)  # it never changes a decision
        self._prefix = prefix
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._breaker = (breaker_failures, breaker_cooldown)
        self._clock = clock
        self._scripts: dict[tuple[str, ...], Script] = {}
        self._eviction_checked = False

    def _settings(self) -> str:
        failures, cooldown = self._breaker
        return (
            f"prefix={self._prefix!r}, timeout={self._timeout!r}, connect_timeout={self._connect_timeout!r}, "
            f"breaker_failures={failures!r}, breaker_cooldown={cooldown!r}, limiters={len(self._scripts)}"
        )

    def _new_breaker(self) -> Breaker | None:
        """A breaker for one server, telling the observer of its moves; ``None`` without one."""
        failures, cooldown = self._breaker
        if failures is None:
            return None
        observer = self._observer
        on_change = None if observer is None else (lambda state: observer.breaker(self.label, state))
        return Breaker(failures, cooldown, on_change=on_change)

    def prepare(self, policy: Policy) -> None:
        """Check that ``policy`` runs exactly in Lua, and compute its keys and parameters.

        Raises:
            ValueError: a rate beyond exact double-precision arithmetic, or a
                sliding log above :data:`~ratelimit_redis.calls.MAX_LOG_LIMIT` units.
        """
        self._script(policy)

    def key_of(self, policy: Policy, key: str) -> tuple[str, ...]:
        """The Redis keys that hold ``key``'s state under ``policy``: one per rate, then the cap's slots, then
        the key's block."""
        tag = digest(key)
        return tuple(f"{base}{{{tag}}}" for base in self._script(policy).bases)

    # -- each operation's call, and the reader of its reply ---------------------------------

    def _hit(self, policy: Policy, key: str, cost: int) -> tuple[Call, Reader]:
        return self._call(policy, key, _HIT, cost), partial(decision_of, policy)

    def _peek(self, policy: Policy, key: str, cost: int) -> tuple[Call, Reader]:
        return self._call(policy, key, _PEEK, cost), partial(decision_of, policy)

    def _charge(self, policy: Policy, key: str, cost: int) -> tuple[Call, Reader]:
        return self._call(policy, key, _CHARGE, cost), partial(decision_of, policy)

    def _refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None) -> tuple[Call, Reader]:
        return self._call(policy, key, _REFUND, cost, until=ends(until)), partial(decision_of, policy)

    def _reserve(self, policy: Policy, key: str, cost: int) -> tuple[Call, Reader]:
        return self._call(policy, key, _RESERVE, cost), partial(reserved, policy)

    def _block(self, policy: Policy, key: str, duration: int) -> tuple[Call, Reader]:
        return self._call(policy, key, _BLOCK, duration), int

    def _write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> tuple[Call, Reader]:
        check_note(text, ttl)
        return self._script(policy).note_call(digest_bytes(key), self._now(), text, ttl), _nothing

    def _read_note(self, policy: Policy, key: str) -> tuple[Call, Reader]:
        return self._script(policy).note_call(digest_bytes(key), self._now()), _note

    def _reset(self, policy: Policy, key: str) -> tuple[Call, Reader]:
        return self._script(policy).delete(digest_bytes(key)), _nothing

    def _acquire(self, policy: Policy, key: str, cost: int, holder: str) -> tuple[Call, Reader]:
        return self._call(policy, key, _ACQUIRE, cost, holder=holder), partial(decision_of, policy)

    def _release(self, policy: Policy, key: str, holder: str) -> tuple[Call, Reader]:
        return self._call(policy, key, _RELEASE, 0, holder=holder), _nothing

    def _renew(self, policy: Policy, key: str, holder: str) -> tuple[Call, Reader]:
        return self._call(policy, key, _RENEW, 0, holder=holder), _renewed

    def _call(self, policy: Policy, key: str, mode: bytes, cost: int, *, until: bytes = b"", holder: str = "") -> Call:
        """The script call of ``mode``; its now is a test clock's µs, or empty for the server's ``TIME``."""
        return self._script(policy).call(digest_bytes(key), mode, cost, (self._now(), until, holder.encode()))

    def _now(self) -> bytes:
        """A test clock's µs for a script's ``now``, or empty for the server's ``TIME``."""
        return b"" if self._clock is None else b"%d" % round(self._clock() * 1_000_000)

    def _script(self, policy: Policy) -> Script:
        """The policy's script call, made once (its checks too)."""
        script = self._scripts.get(policy.signature)
        if script is None:
            script = self._scripts[policy.signature] = Script.of(self._prefix, policy)
        return script

    def _evicting(self, reply: Any) -> None:
        """Once per store, from ``CONFIG GET maxmemory-policy``: warn when Redis may evict the limiter's keys."""
        values = list(reply.values()) if isinstance(reply, dict) else list(reply)[1::2]
        policy = values[0].decode() if values else "noeviction"
        if policy != "noeviction":
            logger.warning(
                "redis evicts keys under memory pressure (maxmemory-policy %s): it may delete rate limit "
                "state and admit more than the limits; only noeviction (or a Redis of its own) keeps limits",
                policy,
            )


def _positive(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0
