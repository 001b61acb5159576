"""One semantics: random timelines a store and ``MemoryStore`` must decide alike, step by step.

:func:`timeline` makes a timeline from a ``random.Random`` (a seed makes it
again); :func:`decide_alike` drives a reference limiter (on ``MemoryStore``)
and a tested one (same name, rates and algorithm, on the store under test)
through it on one clock and compares every answer: allowed, remaining,
reset_after, retry_after, and each rate's status. The shipped
:class:`~ratelimit_core.testing.StoreTests` runs fixed seeds; this project's
integration tests let hypothesis choose the seeds, on every store.

Actions: ``hit``, ``peek``, ``charge`` (past the limit too), ``refund``,
``reserve`` and ``settle`` (the oldest open reservation of the key, at the
step's cost), ``reset``, ``block`` (for a quarter of a second per unit of
cost), ``wait`` (a hit; when denied with a ``retry_after``, the clock moves by
exactly that and the hit must then be admitted), and for a
limiter with a concurrency cap ``acquire``, ``release`` and ``renew`` of a few
holders. Costs include ones no store can hold (they saturate). Keys include
one with a lone surrogate. ``stepping=True`` also steps the clock back and
forth by up to forty days, on one key (a store may drop another key's expired
state at its own moment, which a clock that steps back cannot bring back).
"""

from __future__ import annotations

import random
from typing import Any, NamedTuple

from ratelimit_core.decision import Decision
from ratelimit_core.limiter import Limiter
from ratelimit_core.reservation import Reservation
from ratelimit_core.store import Holding

__all__ = ["KEYS", "Step", "decide_alike", "timeline"]

#: The keys of a timeline: a lone surrogate (a JSON body can carry one) is a key like any other.
KEYS = ("client-0", "client-1", "\ud800 odd")
#: Costs no store can hold: a charge of one saturates, a hit of one is never admitted.
HUGE = (2**53, 10**30, 10**400)

_RATE_ACTIONS = ("hit",) * 4 + ("peek", "reset", "charge", "refund", "reserve", "settle", "settle", "wait", "block")
_SLOT_ACTIONS = ("acquire", "acquire", "release", "renew", "peek", "reset", "block")
_DAY_US = 86_400_000_000


class Step(NamedTuple):
    """One step: ``action`` on ``KEYS[key]`` at ``cost`` (a slot's holder is ``holder``), after ``advance`` µs."""

    action: str
    key: int
    cost: int
    advance: int
    holder: int = 0


def timeline(rng: random.Random, length: int = 40, *, slots: bool = False, stepping: bool = False) -> list[Step]:
    """A random timeline of ``length`` steps: of rate actions, or of slot actions when ``slots``.

    A stepping timeline has 30 steps at most: a store may drop a state that
    has expired (SQLite purges every 64 transactions, Redis by TTL), and a
    clock stepped forward past the expiry and then back cannot bring it back.
    Fewer steps than a purge's interval keep the key's own state.
    """
    if stepping:
        length = min(length, 30)
    steps = []
    for _ in range(length):
        action = rng.choice(_SLOT_ACTIONS if slots else _RATE_ACTIONS)
        cost = rng.choice(HUGE) if rng.random() < 0.04 and action in ("charge", "hit", "refund") else rng.randint(0, 12)
        if slots:
            cost = rng.randint(0, 2)
        elif action == "settle":  # often below the estimate: what is given back, and when, is the point
            cost = rng.choice((0, 1, cost))
        advance = rng.choice((0, 0, rng.randint(0, 300_000), rng.randint(0, 5_000_000)))
        if stepping and rng.random() < 0.3:  # the wall clock stepped, back or forward
            advance = (
                rng.randint(-40 * _DAY_US, 40 * _DAY_US)
                if rng.random() < 0.3
                else rng.randint(-3_600_000_000, 3_600_000_000)
            )
        key = 0 if stepping else rng.randrange(len(KEYS) if not slots else 2)
        steps.append(Step(action, key, cost, advance, rng.randrange(4)))
    return steps


async def decide_alike(reference: Limiter, tested: Limiter, clock: Any, steps: list[Step]) -> None:
    """Drive both limiters through ``steps`` on ``clock`` (``us`` in whole µs); every answer must be equal.

    Raises:
        AssertionError: at the first step whose answers differ, naming it.
    """
    open_: dict[str, list[tuple[Reservation[Any], Reservation[Any]]]] = {}
    for number, step in enumerate(steps):
        clock.us += step.advance
        key = KEYS[step.key]
        limits = "; ".join(map(str, tested.policy.limits))
        where = f"{tested.algorithm.value} {limits!r} step {number}: {step.action} {key!r} cost {step.cost}"
        answers = await _both(reference, tested, step, key, open_)
        if answers is None:
            continue
        expected, got = answers
        _expect(got == expected, f"{where}: {got!r} != {expected!r}")
        if isinstance(got, Decision) and isinstance(expected, Decision):
            _expect(got.statuses == expected.statuses, f"{where}: {got.statuses} != {expected.statuses}")
            # (A float of seconds carries every µs of a wait up to 2**32 s, 136 years; a saturated key's is longer.)
            if step.action == "wait" and not got.allowed and got.retry_after is not None and got.retry_after < 2**32:
                clock.us += round(got.retry_after * 1_000_000)
                for limiter in (reference, tested):
                    _expect((await limiter.hit(key, step.cost)).allowed, f"{where}: the retry_after given came true")


async def _both(
    reference: Limiter,
    tested: Limiter,
    step: Step,
    key: str,
    open_: dict[str, list[tuple[Reservation[Any], Reservation[Any]]]],
) -> tuple[Any, Any] | None:
    """The answers of both limiters to ``step`` (``None`` for a step that answers nothing)."""
    action, cost = step.action, step.cost
    if action == "reset":
        for limiter in (reference, tested):
            await limiter.reset(key)
        return None
    if action == "block":  # a quarter of a second per unit: exact in µs
        return await reference.block(key, cost / 4), await tested.block(key, cost / 4)
    if action == "reserve":
        pair = await reference.reserve(key, cost), await tested.reserve(key, cost)
        open_.setdefault(key, []).append(pair)
        return pair[0].decision, pair[1].decision
    if action == "settle":
        if not open_.get(key):
            return None
        first, second = open_[key].pop(0)
        return await first.settle(cost), await second.settle(cost)
    if action in ("acquire", "release", "renew"):
        holder = f"holder-{step.holder}"
        answers = []
        for limiter in (reference, tested):
            store = limiter.store
            if not isinstance(store, Holding):
                raise TypeError(f"{store!r} keeps no slots: slot timelines are for limiters with a cap")
            if action == "acquire":
                answers.append(await store.acquire(limiter.policy, key, cost, holder))
            else:
                answers.append(await getattr(store, action)(limiter.policy, key, holder))
        return answers[0], answers[1]
    method = "hit" if action == "wait" else action
    return await getattr(reference, method)(key, cost), await getattr(tested, method)(key, cost)


def _expect(condition: object, message: str) -> None:
    """``assert``, kept under ``python -O``."""
    if not condition:
        raise AssertionError(message)
