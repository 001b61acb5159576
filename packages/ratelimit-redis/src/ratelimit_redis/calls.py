"""What one decision sends to Redis and reads back, whatever carries it: the script call, packed; its reply, read.

The same for both colours of ``RedisStore``: a :class:`Script` per policy
(its keys and parameters, checked and packed once), the command of one call
(:meth:`Script.call`), the :class:`~ratelimit_core.Decision` of a reply, and
the ``StoreError`` of a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError, ResponseError

from ratelimit_core import Algorithm, Decision, Policy, StoreError
from ratelimit_core.algorithms import AlgorithmMath, TokenBucket
from ratelimit_core.algorithms.token_bucket import MAX_DEBT
from ratelimit_redis.keys import block_base, key_bases, note_base
from ratelimit_redis.scripts import NOTE_SHA, NOTE_SOURCE, sha, source
from ratelimit_redis.wire import pack, pack_prefix

__all__ = ["CALL_ERRORS", "MAX_LOG_LIMIT", "Call", "Script", "decision_of", "ends", "failure", "reserved"]

_EXACT = 2**53  # Lua numbers are doubles: integers are exact below this
_PACKED_LIMIT = 800_000_000  # window states pack counts in base limit + 1, below 9e8
_DEL = pack_prefix(b"DEL")
_NOTE_EVALSHA, _NOTE_EVAL = pack_prefix(b"EVALSHA", NOTE_SHA.encode(), b"1"), pack_prefix(b"EVAL", NOTE_SOURCE, b"1")
#: The largest sliding-log limit on Redis: one 8-byte entry per unit, so at most 8 MB per key and per hit.
MAX_LOG_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class Call:
    """One command: the key Cluster routes it by, the packed ``EVALSHA``, and the ``EVAL`` if the server lacks it."""

    first_key: bytes
    command: bytes
    fallback: Callable[[], bytes] | None


@dataclass(frozen=True, slots=True)
class Script:
    """What a policy needs on Redis, computed once: keys, parameters, the packed command heads."""

    bases: tuple[str, ...]  # one key base per rate, then the cap's, then the block's
    keys: tuple[bytes, ...]  # the bases as bytes, each with the opening brace of the hash tag
    params: bytes  # ARGV[4]: every rate's parameters, comma-separated
    cap: tuple[bytes, bytes] | None  # ARGV[6] and ARGV[7] with a concurrency cap: its limit and lease (µs)
    note: bytes  # the base of the key's note, with the opening brace (note.lua)
    evalsha: bytes  # the packed "EVALSHA <sha> <number of keys>"
    eval: bytes  # the packed "EVAL <source> <number of keys>", for a server without the script
    count: int  # arguments of the whole command

    @classmethod
    def of(cls, prefix: str, policy: Policy) -> Script:
        """Keys and parameters for ``policy``; ``ValueError`` for what Lua cannot run exactly."""
        params = [value for math in policy.maths for value in _parameters(policy.algorithm, math)]
        cap = policy.cap
        if cap is not None and cap.lease_us >= _EXACT // 4:
            raise ValueError(f"{cap}: the lease must stay below 2^51 µs in Redis")
        bases = (*key_bases(prefix, policy), block_base(prefix, policy.name))
        count = b"%d" % len(bases)
        return cls(
            bases,
            tuple(base.encode() + b"{" for base in bases),
            b",".join(b"%d" % p for p in params),
            None if cap is None else (b"%d" % cap.limit, b"%d" % cap.lease_us),
            note_base(prefix, policy.name).encode() + b"{",
            pack_prefix(b"EVALSHA", sha(policy.algorithm).encode(), count),
            pack_prefix(b"EVAL", source(policy.algorithm), count),
            3 + len(bases) + 5 + (0 if cap is None else 3),
        )

    def call(self, tag: bytes, mode: bytes, cost: int, extra: tuple[bytes, bytes, bytes] = (b"", b"", b"")) -> Call:
        """The script call for ``mode`` on the key of digest ``tag``; ``extra`` = (now, until, holder).

        ``now`` is a test clock's µs (``b""``: the server's ``TIME``), ``until`` a
        refund's per rate, ``holder`` a slot's.
        """
        now, until, holder = extra
        suffix = tag + b"}"
        items = [base + suffix for base in self.keys]
        items += (mode, b"%d" % cost, now, self.params, until)
        if self.cap is not None:
            items += (*self.cap, holder)
        return Call(items[0], pack(self.count, self.evalsha, items), lambda: pack(self.count, self.eval, items))

    def note_call(self, tag: bytes, now: bytes, text: bytes | None = None, ttl: int = 0) -> Call:
        """The note script's call: a read, or with ``text`` a write that lives ``ttl`` µs (``now`` as for
        :meth:`call`)."""
        key = self.note + tag + b"}"
        items = [key, b"read" if text is None else b"write", now, text or b"", b"%d" % ttl]
        return Call(key, pack(3 + len(items), _NOTE_EVALSHA, items), lambda: pack(3 + len(items), _NOTE_EVAL, items))

    def delete(self, tag: bytes) -> Call:
        """The ``DEL`` of every key of ``tag`` (a reset)."""
        keys = [base + tag + b"}" for base in self.keys]
        return Call(keys[0], pack(1 + len(keys), _DEL, keys), None)


def _parameters(algorithm: Algorithm, math: AlgorithmMath) -> list[int]:
    """One rate's parameters for the scripts; ``ValueError`` when Lua's doubles cannot run it exactly."""
    if isinstance(math, TokenBucket):
        # A debt (at most MAX_DEBT, 2^52) plus a capacity of ticks must stay exact: within 2^53.
        if math.scale * 1_000_000_000 >= _EXACT or math.tolerance > MAX_DEBT:
            raise ValueError(f"rate {math.rate} is too fine for exact arithmetic in Redis")
        return [math.scale, math.interval, math.capacity, math.tolerance]
    rate = math.rate
    if rate.period_us >= _EXACT // 4:
        raise ValueError(f"rate {rate}: the period must stay below 2^51 µs (71 years) in Redis")
    if algorithm is Algorithm.SLIDING_WINDOW_LOG:
        if rate.limit > MAX_LOG_LIMIT:
            raise ValueError(
                f"rate {rate}: a sliding log keeps 8 bytes per unit; at most {MAX_LOG_LIMIT:,} units "
                "per window on Redis (choose the sliding window counter for larger limits)"
            )
    elif rate.limit >= _PACKED_LIMIT:
        raise ValueError(f"rate {rate}: limits of {_PACKED_LIMIT:,} or more do not fit a Redis state")
    return [rate.limit, rate.period_us]


def decision_of(policy: Policy, reply: bytes) -> Decision:
    """The script's reply, ``"allowed remaining reset_us retry_us"`` per rate, as a Decision."""
    if policy.single is not None:
        allowed, remaining, reset, retry = reply.split()
        return policy.decision_of(allowed == b"1", int(remaining), int(reset), None if retry == b"-1" else int(retry))
    n = [int(x) for x in reply.split()]
    return policy.decision(
        [(n[i] == 1, n[i + 1], n[i + 2], None if n[i + 3] < 0 else n[i + 3]) for i in range(0, len(n), 4)]
    )


def reserved(policy: Policy, reply: bytes) -> tuple[Decision, tuple[int, ...]]:
    """A ``reserve`` reply (a hit's, then the server's µs): the decision, and per rate until when its units weigh."""
    numbers, now = reply.rsplit(b" ", 1)
    at = int(now)
    return decision_of(policy, numbers), tuple(at + int(reset) for reset in numbers.split()[2::4])


def ends(until: Sequence[int] | None) -> bytes:
    """A refund's ``until`` as the script's argument."""
    return b"" if until is None else b",".join(b"%d" % end for end in until)


def failure(exc: BaseException, doing: str = "decide") -> StoreError:
    """The ``StoreError`` for a failed call (``exc`` one already is kept as it is)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, ResponseError):
        text = str(exc)
        if text.startswith("unknown command") or "engine" in text.lower():
            return StoreError(
                f"redis cannot run Lua scripts ({text!r}): the store needs EVAL and EVALSHA with a Lua "
                "engine (a Valkey built or started without its Lua module has none)"
            )
    return StoreError(f"redis failed to {doing}: {type(exc).__name__}: {exc}")


#: What a failed call may raise: what :func:`failure` turns into a ``StoreError``.
CALL_ERRORS = (StoreError, RedisError, OSError, TimeoutError)
