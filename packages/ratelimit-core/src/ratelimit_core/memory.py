"""An in-process store: bounded tables, no lock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from hashlib import blake2b
from time import monotonic_ns
from typing import Any, ClassVar
from weakref import WeakValueDictionary

from ratelimit_core.algorithms import AlgorithmMath, applier
from ratelimit_core.concurrency import Concurrency, Slots, live, renew, room, take, taken
from ratelimit_core.decision import Decision, new_decision
from ratelimit_core.policy import Outcome, Policy
from ratelimit_core.store import Decide

__all__ = ["MemoryStore"]


_US = 1_000_000.0

#: Keys longer than this many characters are held as a digest of 65 characters.
MAX_KEY_CHARS = 64
#: The most bound functions (one per policy) a store keeps for limiters made later.
MAX_BOUND = 1024


def bounded(key: str) -> str:
    """``key``, or for a longer one ``"~"`` and the hex of its 256-bit BLAKE2b digest.

    Keys can come from client text (an API key header, a path); the digest
    bounds what one key holds, and is 65 characters long, so it never equals a
    key that is kept as it is.
    """
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "~" + blake2b(key.encode("utf-8", "surrogatepass"), digest_size=32).hexdigest()


class _Table:
    """The states of one rate of one policy (one namespace), least recently used first.

    ``touched`` holds when each state was last used (µs of the store's clock),
    so that the store can evict the least recently used state of all its
    tables: every table's first state is its own least recently used.
    """

    __slots__ = ("__weakref__", "apply", "data", "math", "namespace", "touched")

    def __init__(self, namespace: str, math: AlgorithmMath) -> None:
        self.namespace = namespace
        self.math = math
        self.apply = applier(math)
        self.data: OrderedDict[str, Any] = OrderedDict()
        self.touched: dict[str, int] = {}

    def drop(self, key: str) -> bool:
        """Forget ``key``'s state; whether there was one."""
        self.touched.pop(key, None)
        return self.data.pop(key, None) is not None

    def oldest_touch(self) -> int:
        """When this table's least recently used state was last used."""
        return self.touched[next(iter(self.data))]

    def write(self, state: Any, write: Any) -> Any:
        """The state to keep after ``write`` (a step's write) on ``state``."""
        return write if self.apply is None else self.apply(state, write)


class MemoryStore:
    """Limiter state in this process, for one event loop.

    Each decision runs from start to end without an ``await``, which makes it
    atomic on its event loop: no lock is needed. Do not share one store
    between threads or event loops.

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
    of clients active within your longest period.
    """

    #: The store's label in metrics (``ratelimit.store``).
    label: ClassVar[str] = "memory"

    __slots__ = ("_bound", "_caps", "_clock", "_held", "_max_keys", "_size", "_sweep_credit", "_tables")

    def __init__(self, *, clock: Callable[[], float] | None = None, max_keys: int = 100_000) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be an int >= 1, got {max_keys!r}")
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning seconds, got {clock!r}")
        # Nanoseconds; an injected clock's seconds are rounded to the microsecond.
        self._clock: Callable[[], int] = monotonic_ns if clock is None else _seconds_to_ns(clock)
        self._max_keys = max_keys
        # Each namespace's table, for as long as anything holds it: the store holds the tables that hold
        # states (``_held``); a limiter's bound function holds its own. An empty table nobody holds is
        # gone, so the store's memory is bounded by max_keys whatever the number of limiter names.
        self._tables: WeakValueDictionary[str, _Table] = WeakValueDictionary()
        self._held: dict[str, _Table] = {}
        # Concurrency slots: cap namespace -> key -> holder -> lapse (µs). Held only while some slot is:
        # they are bounded by the holders in flight, not by max_keys.
        self._caps: dict[str, dict[str, Slots]] = {}
        self._bound: dict[tuple[str, ...], Decide] = {}  # bind() once per policy, the newest MAX_BOUND kept
        self._size = 0  # states held, over all tables
        self._sweep_credit = 0  # new keys to go before a sweep for expired states may run

    def __repr__(self) -> str:
        return f"MemoryStore(keys={self._size}, max_keys={self._max_keys})"

    @property
    def size(self) -> int:
        """How many states are held (one per rate and key)."""
        return self._size

    # -- the Store contract ----------------------------------------------------------

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.hit`."""
        return self.bind(policy)(key, cost)

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.peek`."""
        key = bounded(key)
        now = self._clock() // 1000
        outcomes = [_peek(table.math, table.data.get(key), now, cost) for table in self._tables_of(policy)]
        if policy.cap is not None:
            outcomes.append(room(policy.cap, len(self._live_slots(policy, key, now))))
        return policy.decision(outcomes)

    async def reset(self, policy: Policy, key: str) -> None:
        """See :meth:`ratelimit_core.Store.reset`."""
        key = bounded(key)
        for table in self._tables_of(policy):
            self._drop(table, key)
        if policy.cap is not None:
            self._forget_slots(policy.cap_namespace, key)

    # -- concurrency slots (ratelimit_core.store.Holding) ---------------------------------

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        """See :meth:`ratelimit_core.store.Holding.acquire`."""
        cap = _cap_of(policy)
        key = bounded(key)
        now = self._clock() // 1000
        slots = self._live_slots(policy, key, now)
        held = len(slots)
        admitted, outcomes = self._consume(self._tables_of(policy), key, cost, now, gate=held < cap.limit)
        if admitted:
            self._caps.setdefault(policy.cap_namespace, {})[key] = slots
            take(slots, cap, holder, now)
            outcomes.append(taken(cap, len(slots)))
        else:
            outcomes.append(room(cap, held))
        return policy.decision(outcomes)

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        """See :meth:`ratelimit_core.store.Holding.release`."""
        _cap_of(policy)
        key = bounded(key)
        slots = self._caps.get(policy.cap_namespace, {}).get(key)
        if slots is not None:
            slots.pop(holder, None)
            if not slots:
                self._forget_slots(policy.cap_namespace, key)

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        """See :meth:`ratelimit_core.store.Holding.renew`."""
        cap = _cap_of(policy)
        key = bounded(key)
        now = self._clock() // 1000
        return renew(self._live_slots(policy, key, now), cap, holder, now)

    def _live_slots(self, policy: Policy, key: str, now: int) -> Slots:
        """``key``'s live slots (lapsed ones dropped); a key with none is not kept."""
        slots = self._caps.get(policy.cap_namespace, {}).get(key)
        if slots is None:
            return {}
        live(slots, now)
        if not slots:
            self._forget_slots(policy.cap_namespace, key)
        return slots

    def _forget_slots(self, namespace: str, key: str) -> None:
        """Drop ``key``'s slots, and the namespace's table once it holds none."""
        table = self._caps.get(namespace)
        if table is not None:
            table.pop(key, None)
            if not table:
                del self._caps[namespace]

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        """See :meth:`ratelimit_core.Store.charge`."""
        return self._account(policy, bounded(key), cost, None)

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        """See :meth:`ratelimit_core.Store.refund`."""
        return self._account(policy, bounded(key), cost, () if until is None else until)

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        """See :meth:`ratelimit_core.Store.reserve`."""
        now = self._clock() // 1000
        outcomes = self._consume(self._tables_of(policy), bounded(key), cost, now)[1]
        return policy.decision(outcomes), tuple(now + outcome[2] for outcome in outcomes)

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
        tables = self._tables_of(policy)
        if len(tables) > 1:
            return lambda key, cost: self._hit_all(policy, tables, bounded(key), cost)

        (table,) = tables
        data, step, apply, clock, insert = table.data, table.math.step, table.apply, self._clock, self._insert
        get, touch, touched = data.get, data.move_to_end, table.touched
        rate = policy.rates[0]
        limit = rate.limit

        def decide(key: str, cost: int) -> Decision:
            if len(key) > MAX_KEY_CHARS:
                key = bounded(key)
            now = clock() // 1000
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

    def _tables_of(self, policy: Policy) -> list[_Table]:
        tables = self._tables
        out = []
        for namespace, math in zip(policy.namespaces, policy.maths, strict=True):
            table = tables.get(namespace)
            if table is None:
                table = tables[namespace] = _Table(namespace, math)
            out.append(table)
        return out

    def _drop(self, table: _Table, key: str) -> None:
        """Forget ``key``'s state in ``table``; the store lets go of a table left empty."""
        if table.drop(key):
            self._size -= 1
            if not table.data:
                self._held.pop(table.namespace, None)

    def _hit_all(self, policy: Policy, tables: list[_Table], key: str, cost: int) -> Decision:
        """Several rates: consume from every one, or from none."""
        return policy.decision(self._consume(tables, key, cost, self._clock() // 1000)[1])

    def _consume(
        self, tables: list[_Table], key: str, cost: int, now: int, *, gate: bool = True
    ) -> tuple[bool, list[Outcome]]:
        """Consume ``cost`` from every table when each admits it (and ``gate``), else from none.

        Whether it did, and one outcome per table.
        """
        states = [t.data.get(key) for t in tables]
        steps = [t.math.step(s, now, cost) for t, s in zip(tables, states, strict=True)]
        for table, state in zip(tables, states, strict=True):
            if state is not None:
                table.data.move_to_end(key)  # touched first, so making room never takes them
                table.touched[key] = now
        if gate and all(step[0] for step in steps):
            # Updates first, then new keys: making room for those never drops an update.
            for table, state, step in zip(tables, states, steps, strict=True):
                if step[1] is not None and state is not None:
                    table.data[key] = table.write(state, step[1])
            for table, state, step in zip(tables, states, steps, strict=True):
                if step[1] is not None and state is None:
                    self._insert(table, key, table.write(None, step[1]), now)
            return True, [(True, s[2], s[3], 0) for s in steps]
        # All or nothing: the rates that would have admitted report what they hold.
        # Nothing is consumed; a state read from the future is still written back
        # (the step's write on a denial, or at cost 0, is only that repair).
        outcomes: list[Outcome] = []
        for table, state, step in zip(tables, states, steps, strict=True):
            view = step if not step[0] else table.math.step(state, now, 0)
            if view[1] is not None:
                table.data[key] = table.write(state, view[1])
            outcomes.append((step[0], view[2], view[3], step[4]))
        return False, outcomes

    def _account(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None) -> Decision:
        """Charge (``until`` is ``None``) or refund ``cost`` on every rate, then answer as a peek of one unit.

        A refund's ``until`` holds a value per rate, or is empty (the newest units).
        """
        now = self._clock() // 1000
        tables = self._tables_of(policy)
        states = [t.data.get(key) for t in tables]
        for table, state in zip(tables, states, strict=True):
            if state is not None:
                table.data.move_to_end(key)  # touched first, so making room never takes them
                table.touched[key] = now
        if until is None:
            writes = [t.math.charge(s, now, cost) for t, s in zip(tables, states, strict=True)]
        else:
            ends: Sequence[int | None] = until or [None] * len(tables)
            writes = [t.math.refund(s, now, cost, end) for t, s, end in zip(tables, states, ends, strict=True)]
        # Updates first, then new keys: making room for those never drops an update.
        for table, state, write in zip(tables, states, writes, strict=True):
            if write is not None and state is not None:
                table.data[key] = table.write(state, write)
        for table, state, write in zip(tables, states, writes, strict=True):
            if write is not None and state is None:
                self._insert(table, key, table.write(None, write), now)
        outcomes = [_peek(t.math, t.data.get(key), now, 1) for t in tables]
        return policy.decision(outcomes)

    def _insert(self, table: _Table, key: str, state: Any, now: int) -> None:
        """Add a new key's state, making room first; drop the table's oldest state if expired."""
        data = table.data
        if self._size >= self._max_keys:
            self._make_room(now)
        elif data:
            oldest = next(iter(data))
            if table.math.expires_at(data[oldest]) <= now:
                table.drop(oldest)
                self._size -= 1
        if not data:
            self._held[table.namespace] = table
        data[key] = state
        table.touched[key] = now
        self._size += 1
        self._sweep_credit -= 1

    def _make_room(self, now: int) -> None:
        """Free one place: expired states first, else the least recently used state of the whole store."""
        if self._sweep_credit <= 0:
            self._sweep_credit = max(1, self._max_keys // 8)
            for table in list(self._held.values()):
                expires_at = table.math.expires_at
                for key in [k for k, state in table.data.items() if expires_at(state) <= now]:
                    self._drop(table, key)
        while self._size >= self._max_keys:
            victim = min(self._held.values(), key=_Table.oldest_touch)
            self._drop(victim, next(iter(victim.data)))


def _peek(math: AlgorithmMath, state: Any, now: int, cost: int) -> Outcome:
    """Whether ``cost`` fits ``state`` at ``now``, with what the state holds now (nothing is written)."""
    step = math.step(state, now, cost)
    view = step if not step[0] or not cost else math.step(state, now, 0)
    return step[0], view[2], view[3], step[4]


def _cap_of(policy: Policy) -> Concurrency:
    if policy.cap is None:
        raise TypeError(f"{policy.name!r} has no concurrency cap: slots are for limiters with a Concurrency")
    return policy.cap


def _seconds_to_ns(clock: Callable[[], float]) -> Callable[[], int]:
    def now_ns() -> int:
        return round(clock() * 1_000_000) * 1000

    return now_ns
