"""The executor: how one operation is applied across a limiter's rates. Pure: no I/O, no clock reads.

A store reads a key's states (one per rate, ``None`` for none), calls one
function here with its time in microseconds, and writes back, atomically, the
writes it returns (each through its arithmetic's ``apply`` where it has one;
``None`` means nothing to write). Then it builds its answer with
``policy.decision(outcomes)``. ``MemoryStore`` (apart from its one-rate fast
path, which is :func:`hit` for one rate written out) and ``SqliteStore`` call
these functions; the Redis store's Lua ``decide`` (``common.lua``) is their
twin, pinned to them by the conformance suite.

What every operation guarantees:

* **All or nothing across rates.** :func:`hit` consumes from every rate when
  every rate admits the cost (and ``room``, a concurrency cap's, allows), else
  from none.
* **A denial consumes nothing, yet repairs.** A rate's write on a denial (or
  at cost 0) is only the repair of a state read from a clock that went back;
  it is written even then, so a ``retry_after`` given comes true.
* **What a rate that would admit reports.** When the decision is a denial (or
  a peek), a rate that alone would admit reports what it holds now: its step
  at cost 0.
* **A block denies everything until it ends.** Given ``blocked``, the end
  (µs) of the key's block (:meth:`Limiter.block <ratelimit_core.Limiter.block>`),
  :func:`hit`, :func:`acquire` and :func:`peek` deny while ``now < blocked``,
  consume nothing (repairs are still written), and every rate reports nothing
  left and a ``retry_after`` of at least the block's rest (:func:`under_block`).
  Exact: a denial consumes nothing and a rate only recovers meanwhile, so the
  later of the block's end and the rate's own wait comes true. A store keeps a
  block as a :data:`Block` and passes its :func:`block_end`; :func:`blocking`
  is what a block operation writes. A clock that went back before a block was
  set does not lengthen it: a decision (not a peek) then writes the block
  :func:`repaired`, as it writes a rate's repair.
* **Charge and refund, then a peek.** :func:`charge` consumes on every rate,
  room or not; :func:`refund` gives back on every rate, only what still
  weighs when ``until`` is given (see the algorithms). Both answer with
  :func:`peek` of one unit on the states kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ratelimit_core.algorithms import AlgorithmMath
from ratelimit_core.concurrency import Concurrency, Slots, room, take, taken
from ratelimit_core.policy import Outcome

__all__ = [
    "Applied",
    "Block",
    "acquire",
    "block_end",
    "blocking",
    "charge",
    "hit",
    "peek",
    "refund",
    "repaired",
    "under_block",
    "until",
]

#: A key's block as a store keeps it: ``(end, start)``, µs of the store's clock (set at ``start``, to end at ``end``).
Block = tuple[int, int]


class Applied(NamedTuple):
    """What :func:`hit` (or :func:`acquire`) decided.

    Attributes:
        admitted: Whether the cost was consumed (and a slot taken).
        writes: One write per rate, ``None`` for none: the consumption, or on a
            denial only the repair of a state from a clock that went back.
        outcomes: One :data:`Outcome` per rate (then the cap's, for an acquire).
    """

    admitted: bool
    writes: list[Any]
    outcomes: list[Outcome]


def hit(
    maths: Sequence[AlgorithmMath],
    states: Sequence[Any],
    now: int,
    cost: int,
    room: bool = True,
    blocked: int = 0,
) -> Applied:
    """Consume ``cost`` from every rate when each admits it, ``room`` allows and no block holds (``now >= blocked``),
    else from none."""
    steps = [math.step(state, now, cost) for math, state in zip(maths, states, strict=True)]
    if room and now >= blocked and all(allowed for allowed, _, _, _, _ in steps):
        writes = [write for _, write, _, _, _ in steps]
        return Applied(True, writes, [(True, remaining, reset, 0) for _, _, remaining, reset, _ in steps])
    writes, outcomes = [], []
    for math, state, step in zip(maths, states, steps, strict=True):
        # A rate that would admit, alone, reports what it holds now (and repairs as a peek would).
        allowed, retry = step[0], step[4]
        _, write, remaining, reset, _ = math.step(state, now, 0) if allowed and cost else step
        writes.append(write)
        outcomes.append((allowed, remaining, reset, retry))
    return Applied(False, writes, outcomes if now >= blocked else under_block(outcomes, blocked - now))


def acquire(
    maths: Sequence[AlgorithmMath],
    states: Sequence[Any],
    now: int,
    cost: int,
    *,
    cap: Concurrency,
    slots: Slots,
    holder: str,
    blocked: int = 0,
) -> Applied:
    """:func:`hit` that also gives ``holder`` one of ``cap``'s slots, or does neither.

    ``slots`` are the key's live slots (lapsed ones dropped: see
    :func:`ratelimit_core.concurrency.live`), changed in place; the cap's
    outcome comes after the rates'.
    """
    applied = hit(maths, states, now, cost, len(slots) < cap.limit, blocked)
    if applied.admitted:
        take(slots, cap, holder, now)
        applied.outcomes.append(taken(cap, len(slots)))
    else:
        applied.outcomes.append(room(cap, len(slots)))
    return applied


def peek(maths: Sequence[AlgorithmMath], states: Sequence[Any], now: int, cost: int, blocked: int = 0) -> list[Outcome]:
    """Whether ``cost`` fits each rate (none does under a block), with what each holds now; nothing is written."""
    outcomes = []
    for math, state in zip(maths, states, strict=True):
        allowed, _, _, _, retry = step = math.step(state, now, cost)
        _, _, remaining, reset, _ = math.step(state, now, 0) if allowed and cost else step
        outcomes.append((allowed, remaining, reset, retry))
    return outcomes if now >= blocked else under_block(outcomes, blocked - now)


def under_block(outcomes: Sequence[Outcome], wait: int) -> list[Outcome]:
    """The rates' outcomes while a block holds for ``wait`` more µs: each denies, with nothing left and a
    ``reset_after`` and ``retry_after`` of at least ``wait`` (a cost no rate can ever admit stays ``None``)."""
    return [
        (False, 0, max(reset, wait), None if retry is None else max(retry, wait)) for _, _, reset, retry in outcomes
    ]


def block_end(block: Block | None, now: int) -> int:
    """When ``block`` ends, seen at ``now`` (0: there is none).

    A clock that went back before the block was set does not lengthen it: the
    block then ends its whole length from now.
    """
    if block is None:
        return 0
    end, start = block
    return end if now >= start else now + end - start


def repaired(block: Block | None, now: int) -> Block | None:
    """The block to write back when ``now`` is before it was set (its whole length from now), else ``None``."""
    if block is None or now >= block[1]:
        return None
    return now + block[0] - block[1], now


def blocking(block: Block | None, now: int, duration: int) -> Block | None:
    """The key's block after blocking it at ``now`` for ``duration`` µs: the later end stands (``None``: none)."""
    end = max(block_end(block, now), now + duration)
    if end <= now:
        return None
    if block is None or end == now + duration:
        return end, now
    return end, min(block[1], now)


def charge(maths: Sequence[AlgorithmMath], states: Sequence[Any], now: int, cost: int) -> list[Any]:
    """The write of each rate that consumes ``cost``, room or not (never ``None``)."""
    return [math.charge(state, now, cost) for math, state in zip(maths, states, strict=True)]


def refund(
    maths: Sequence[AlgorithmMath], states: Sequence[Any], now: int, cost: int, ends: Sequence[int] | None = None
) -> list[Any]:
    """The write of each rate that gives back up to ``cost`` (``None``: nothing changes).

    ``ends`` is a reservation's :func:`until`, one per rate: then only what of its units still weighs.
    """
    if ends is None:
        return [math.refund(state, now, cost) for math, state in zip(maths, states, strict=True)]
    return [math.refund(state, now, cost, end) for math, state, end in zip(maths, states, ends, strict=True)]


def until(now: int, outcomes: Sequence[Outcome]) -> tuple[int, ...]:
    """For a reservation's hit at ``now``: when its units stop weighing on each rate (``now + reset_after``)."""
    return tuple(now + reset for _, _, reset, _ in outcomes)
