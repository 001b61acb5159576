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

__all__ = ["Applied", "acquire", "charge", "hit", "peek", "refund", "until"]


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


def hit(maths: Sequence[AlgorithmMath], states: Sequence[Any], now: int, cost: int, room: bool = True) -> Applied:
    """Consume ``cost`` from every rate when each admits it and ``room`` allows, else from none."""
    steps = [math.step(state, now, cost) for math, state in zip(maths, states, strict=True)]
    if room and all(allowed for allowed, _, _, _, _ in steps):
        writes = [write for _, write, _, _, _ in steps]
        return Applied(True, writes, [(True, remaining, reset, 0) for _, _, remaining, reset, _ in steps])
    writes, outcomes = [], []
    for math, state, step in zip(maths, states, steps, strict=True):
        # A rate that would admit, alone, reports what it holds now (and repairs as a peek would).
        allowed, retry = step[0], step[4]
        _, write, remaining, reset, _ = math.step(state, now, 0) if allowed and cost else step
        writes.append(write)
        outcomes.append((allowed, remaining, reset, retry))
    return Applied(False, writes, outcomes)


def acquire(
    maths: Sequence[AlgorithmMath],
    states: Sequence[Any],
    now: int,
    cost: int,
    *,
    cap: Concurrency,
    slots: Slots,
    holder: str,
) -> Applied:
    """:func:`hit` that also gives ``holder`` one of ``cap``'s slots, or does neither.

    ``slots`` are the key's live slots (lapsed ones dropped: see
    :func:`ratelimit_core.concurrency.live`), changed in place; the cap's
    outcome comes after the rates'.
    """
    applied = hit(maths, states, now, cost, len(slots) < cap.limit)
    if applied.admitted:
        take(slots, cap, holder, now)
        applied.outcomes.append(taken(cap, len(slots)))
    else:
        applied.outcomes.append(room(cap, len(slots)))
    return applied


def peek(maths: Sequence[AlgorithmMath], states: Sequence[Any], now: int, cost: int) -> list[Outcome]:
    """Whether ``cost`` fits each rate, with what each holds now; nothing is written."""
    outcomes = []
    for math, state in zip(maths, states, strict=True):
        allowed, _, _, _, retry = step = math.step(state, now, cost)
        _, _, remaining, reset, _ = math.step(state, now, 0) if allowed and cost else step
        outcomes.append((allowed, remaining, reset, retry))
    return outcomes


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
