"""An in-process store: bounded tables, no lock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from time import monotonic_ns
from typing import ClassVar

from ratelimit_core import executor
from ratelimit_core.blocks import Blocks
from ratelimit_core.concurrency import Concurrency, renew, room
from ratelimit_core.decision import Decision, new_decision
from ratelimit_core.memory_tables import MAX_KEY_CHARS, SlotTables, Table, Tables, bounded
from ratelimit_core.notes import Notes, check_note
from ratelimit_core.policy import Policy
from ratelimit_core.store import Decide

__all__ = ["MAX_BOUND", "MemoryCore", "MemoryStore"]

_US = 1_000_000.0

#: The most bound functions (one per policy) a store keeps for limiters made later.
MAX_BOUND = 1024


class MemoryCore:
    """What both colours of ``MemoryStore`` hold and do: bounded tables and slots, every operation a plain call.

    Each operation runs from start to end without yielding; the async store is
    atomic on its event loop, and the sync store holds its lock around each.
    """

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "memory"
    #: Its state lives in this process only: a waiter for a slot is woken by a release here, never polls.
    local: ClassVar[bool] = True

    __slots__ = ("_blocks", "_bound", "_clock", "_given_clock", "_notes", "_slots", "_tables")

    def __init__(self, *, clock: Callable[[], float] | None = None, max_keys: int = 100_000) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an int >= 1, got {max_keys!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        # Nanoseconds; an injected clock's seconds are rounded to the microsecond.
        self._clock: Callable[[], int] = monotonic_ns if clock is None else _seconds_to_ns(clock)
        self._given_clock = clock is not None
        self._tables = Tables(max_keys)
        self._slots = SlotTables()
        self._blocks = Blocks(max_keys)
        self._notes = Notes(max_keys)
        self._bound: dict[tuple[str, ...], Decide] = {}  # bind() once per policy, the newest MAX_BOUND kept

    def __repr__(self) -> str:
        return f"MemoryStore(keys={self._tables.size}, max_keys={self._tables.max_keys})"

    @property
    def size(self) -> int:
        """How many states are held (one per rate and key)."""
        return self._tables.size

    # -- the operations, as plain calls (each store's colour wraps them) -----------------

    def _peek(self, policy: Policy, key: str, cost: int) -> Decision:
        key, now = bounded(key), self._now()
        tables = self._tables.of(policy)
        blocked = self._blocks.end(policy.name, key, now, repair=False)
        outcomes = executor.peek(policy.maths, [t.data.get(key) for t in tables], now, cost, blocked)
        if policy.cap is not None:
            outcomes.append(room(policy.cap, len(self._slots.live(policy.cap_namespace, key, now))))
        return policy.decision(outcomes)

    def _reset(self, policy: Policy, key: str) -> None:
        key = bounded(key)
        for table in self._tables.of(policy):
            self._tables.drop(table, key)
        if policy.cap is not None:
            self._slots.forget(policy.cap_namespace, key)
        self._blocks.drop(policy.name, key)

    def _block(self, policy: Policy, key: str, duration: int) -> int:
        return self._blocks.block(policy.name, bounded(key), duration, self._now())

    def _charge(self, policy: Policy, key: str, cost: int) -> Decision:
        return self._account(policy, bounded(key), lambda states, now: executor.charge(policy.maths, states, now, cost))

    def _refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        return self._account(
            policy, bounded(key), lambda states, now: executor.refund(policy.maths, states, now, cost, until)
        )

    def _reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        now = self._now()
        outcomes = self._hit(policy, self._tables.of(policy), bounded(key), cost, now).outcomes
        return policy.decision(outcomes), executor.until(now, outcomes)

    def _write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        check_note(text, ttl)
        self._notes.write(policy.name, bounded(key), text, self._now() + ttl)

    def _read_note(self, policy: Policy, key: str) -> bytes | None:
        return self._notes.read(policy.name, bounded(key), self._now())

    def _acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        cap, key, now = _cap_of(policy), bounded(key), self._now()
        tables = self._tables.of(policy)
        states = self._tables.read(tables, key, now)
        slots = self._slots.live(policy.cap_namespace, key, now)
        blocked = self._blocks.end(policy.name, key, now)
        applied = executor.acquire(
            policy.maths, states, now, cost, cap=cap, slots=slots, holder=holder, blocked=blocked
        )
        self._tables.write(tables, key, states, applied.writes, now)
        if applied.admitted:
            self._slots.keep(policy.cap_namespace, key, slots)
        return policy.decision(applied.outcomes)

    def _release(self, policy: Policy, key: str, holder: str) -> None:
        _cap_of(policy)
        self._slots.release(policy.cap_namespace, bounded(key), holder)

    def _renew(self, policy: Policy, key: str, holder: str) -> bool:
        cap, key, now = _cap_of(policy), bounded(key), self._now()
        return renew(self._slots.live(policy.cap_namespace, key, now), cap, holder, now)

    # -- what ratelimit_core.testing's switches use -------------------------------------

    def _follow_clock(self, clock: Callable[[], float] | None) -> bool:
        """Read ``clock`` (``None``: the monotonic clock again); a store given a clock keeps it (``False``)."""
        if self._given_clock:
            return False
        self._clock = monotonic_ns if clock is None else _seconds_to_ns(clock)
        return True

    def _forget_all(self) -> None:
        """Forget every state, slot, block and note (in place: bound functions hold the tables)."""
        self._tables.clear()
        self._slots.clear()
        self._blocks.clear()
        self._notes.clear()

    # -- the limiter's fast path --------------------------------------------------------

    def bind(self, policy: Policy) -> Decide:
        """A plain function ``decide(key, cost) -> Decision``: :meth:`hit` for ``policy``.

        Nothing in it awaits, so the limiter calls it without a coroutine and
        the lookups that depend only on ``policy`` are done once, here (once
        per policy and store: limiters of one policy share one function).
        """
        decide = self._bound.get(policy.namespaces)
        if decide is None:
            decide = self._bound[policy.namespaces] = self._bind(policy)
            if len(self._bound) > MAX_BOUND:  # limiters made per request under many names: keep the newest
                del self._bound[next(iter(self._bound))]
        return decide

    def _bind(self, policy: Policy) -> Decide:
        if policy.single is None:
            tables = self._tables.of(policy)  # held by the function: they stay the store's while it lives
            return lambda key, cost: policy.decision(
                self._hit(policy, tables, bounded(key), cost, self._now()).outcomes
            )
        return self._bind_one(policy)

    def _bind_one(self, policy: Policy) -> Decide:
        """One rate: :func:`ratelimit_core.executor.hit` written out for it, with every lookup done once."""
        (table,) = self._tables.of(policy)
        data, step, apply, insert = table.data, table.math.step, table.apply, self._tables.insert
        get, touch, touched = data.get, data.move_to_end, table.touched
        rate, name, blocks = policy.rates[0], policy.name, self._blocks
        limit, blocked = rate.limit, blocks.by_name

        def decide(key: str, cost: int) -> Decision:
            if len(key) > MAX_KEY_CHARS:
                key = bounded(key)
            now = self._clock() // 1000  # read each time: a test's clock may replace it (ratelimit_core.testing)
            if blocked and blocks.end(name, key, now):  # no key blocked: one test of an empty dict
                return self._hit_blocked(policy, table, key, cost, now)
            state = get(key)
            allowed, new, remaining, reset, retry = step(state, now, cost)
            if new is not None:
                if apply is not None:
                    new = apply(state, new)
                if state is None:
                    insert(table, key, new, now)
                else:
                    data[key] = new
                    touch(key)
                    touched[key] = now
            elif state is not None:
                touch(key)
                touched[key] = now
            if allowed:  # retry is 0
                return new_decision(True, limit, remaining, reset / _US, 0.0, rate, False, None)
            return new_decision(
                False, limit, remaining, reset / _US, None if retry is None else retry / _US, rate, False, None
            )

        return decide

    # -- internals ---------------------------------------------------------------------

    def _now(self) -> int:
        return self._clock() // 1000

    def _hit(self, policy: Policy, tables: list[Table], key: str, cost: int, now: int) -> executor.Applied:
        """Read, decide with the executor, write: a hit on every rate or none."""
        states = self._tables.read(tables, key, now)
        blocked = self._blocks.end(policy.name, key, now) if self._blocks.size else 0
        applied = executor.hit(policy.maths, states, now, cost, blocked=blocked)
        self._tables.write(tables, key, states, applied.writes, now)
        return applied

    def _hit_blocked(self, policy: Policy, table: Table, key: str, cost: int, now: int) -> Decision:
        """The one-rate fast path's hit on a blocked key: the executor's (a denial), for the rate's table."""
        return policy.decision(self._hit(policy, [table], key, cost, now).outcomes)

    def _account(self, policy: Policy, key: str, writes_of: Callable[[list[object], int], list[object]]) -> Decision:
        """A charge or a refund (``writes_of(states, now)``) on every rate, then a peek of one unit."""
        now = self._now()
        tables = self._tables.of(policy)
        states = self._tables.read(tables, key, now)
        kept = self._tables.write(tables, key, states, writes_of(states, now), now)
        return policy.decision(executor.peek(policy.maths, kept, now, 1))


class MemoryStore(MemoryCore):
    """Limiter state in this process, for one event loop.

    Each decision runs from start to end without an ``await``, which makes it
    atomic on its event loop: no lock is needed. Do not share one store
    between threads or event loops (``ratelimit_core.sync`` has a store for threads).

    Args:
        clock: A zero-argument callable returning seconds (any origin). Default:
            the monotonic clock. Tests inject one (see
            :class:`~ratelimit_core.testing.ManualClock`) instead of sleeping.
        max_keys: At most this many states are held, one per (rate, key).

    Keys longer than 64 characters are held as a fixed-size digest, so a key
    made of client text (an API key, a path) holds no more than a short one.

    A state whose limit is fully restored carries no information and is
    dropped: when its key is next written, when it is the oldest state of its
    limiter as a new key arrives, or when the store is full. When the store is
    full, a new key takes the place of an expired state if there is one (a
    sweep for them runs at most once per ``max_keys // 8`` new keys), else of
    the least recently used state of the whole store, whichever limiter holds
    it (a denied hit uses its state too: a client hammering a denied key is
    the last to be evicted). Evicting a state that has *not* expired forgets
    that key's usage: it starts afresh. Choose ``max_keys`` above the number
    of clients active within your longest period. Memory stays bounded by
    ``max_keys`` whatever the number of limiter names.
    """

    __slots__ = ()

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        return self.bind(policy)(key, cost)

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        return self._peek(policy, key, cost)

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        self._reset(policy, key)

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        return self._charge(policy, key, cost)

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        return self._refund(policy, key, cost, until)

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        return self._reserve(policy, key, cost)

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        """See :meth:`ratelimit_core.store.Blocking.block`."""
        return self._block(policy, key, duration)

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        """See :meth:`ratelimit_core.store.Noting.write_note`."""
        self._write_note(policy, key, text, ttl)

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        """See :meth:`ratelimit_core.store.Noting.read_note`."""
        return self._read_note(policy, key)

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        return self._acquire(policy, key, cost, holder)

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        self._release(policy, key, holder)

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        return self._renew(policy, key, holder)


def _cap_of(policy: Policy) -> Concurrency:
    if policy.cap is None:
        raise TypeError(f"{policy.name!r} has no concurrency cap: slots are for limiters with a Concurrency")
    return policy.cap


def _seconds_to_ns(clock: Callable[[], float]) -> Callable[[], int]:
    def now_ns() -> int:
        return round(clock() * 1_000_000) * 1000

    return now_ns
