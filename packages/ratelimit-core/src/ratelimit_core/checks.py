"""What a limiter checks of what it is given: keys, costs, timeouts, stores."""

from __future__ import annotations

import inspect
import math
from typing import NoReturn, cast

from ratelimit_core.policy import Policy
from ratelimit_core.store import Binding, Decide, Preparing
from ratelimit_core.wrapper import capabilities

__all__ = ["MAX_BLOCK", "block_us", "blocking", "bound", "check", "check_store", "check_timeout", "use_acquire"]

#: The longest block, in seconds (a year): longer is a mistake, and stays exact in every store's arithmetic.
MAX_BLOCK = 366 * 86_400

#: The operations every store has, and those a store keeping concurrency slots adds.
_CONTRACT = ("hit", "peek", "reset", "charge", "refund", "reserve")
_HOLDING = ("acquire", "release", "renew")


def use_acquire(key: object, cost: object) -> NoReturn:
    """What ``hit`` (and ``charge``, ``refund``, ``wait``, ``reserve``) do on a limiter with a concurrency cap."""
    raise TypeError(
        "this limiter has a concurrency cap: hold a slot with 'async with limiter.acquire(key) as decision:'"
    )


def block_us(seconds: object) -> int:
    """A block's ``seconds`` in whole µs (rounded up); a ``ValueError`` naming anything but 0 to :data:`MAX_BLOCK`."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (0 <= seconds <= MAX_BLOCK):
        raise ValueError(f"seconds must be a number from 0 to {MAX_BLOCK} (a year), got {seconds!r}")
    return math.ceil(seconds * 1_000_000)


def blocking(store: object) -> object:
    """``store``, when it keeps blocks; else a ``TypeError`` naming it."""
    if not capabilities(store).blocking:
        raise TypeError(f"{store!r} keeps no blocks: Limiter.block needs a store that implements Blocking")
    return store


def check_timeout(timeout: object) -> None:
    """``timeout`` is ``None`` or a finite number of seconds >= 0; else a ``ValueError`` naming it."""
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (0 <= timeout < float("inf"))
    ):
        raise ValueError(f"timeout must be None or a finite number of seconds >= 0, got {timeout!r}")


def check(key: object, cost: object) -> None:
    """``key`` is a ``str`` (else ``TypeError``) and ``cost`` an int >= 0 (else ``ValueError``)."""
    if key.__class__ is not str:
        hint = " (a missing header or field gives None: choose a fallback key)" if key is None else ""
        raise TypeError(f"key must be a str, got {type(key).__name__} {key!r}{hint}")
    if type(cost) is not int or cost < 0:
        raise ValueError(f"cost must be an int >= 0, got {cost!r}")


def check_store(label: str, candidate: object, policy: Policy, *, asynchronous: bool = True) -> None:
    """``candidate`` (``store`` or ``fallback``) can serve ``policy``: the contract, its colour, slots for a cap."""
    if candidate is None:
        return
    found = None if isinstance(candidate, type) else capabilities(candidate)
    if found is None or not found.store:
        missing = [name for name in _CONTRACT if not callable(getattr(candidate, name, None))]
        raise ValueError(
            f"{label} must implement the Store contract ({', '.join(_CONTRACT)}), got {candidate!r}"
            + (f" (it lacks {', '.join(missing)})" if missing and not isinstance(candidate, type) else "")
        )
    if inspect.iscoroutinefunction(getattr(type(candidate), "hit", None)) != asynchronous:
        wanted, other = (
            ("ratelimit_core", "ratelimit_core.sync") if asynchronous else ("ratelimit_core.sync", "ratelimit_core")
        )
        raise TypeError(
            f"{label} {candidate!r} is a store for {other}'s Limiter: {wanted}'s Limiter needs a store of its "
            f"own colour ({'coroutines' if asynchronous else 'blocking calls'}); both colours share state "
            "through the same file or server"
        )
    if policy.cap is not None and not found.holding:
        raise ValueError(
            f"{label} {candidate!r} keeps no concurrency slots ({', '.join(_HOLDING)}), which {policy.cap} needs"
        )
    if found.preparing:  # what it cannot do is a ValueError here, not a store failure on every decision
        cast(Preparing, candidate).prepare(policy)


def bound(store: object, policy: Policy) -> Decide | None:
    """``store.bind(policy)`` for a store that decides without I/O, else ``None``."""
    if not capabilities(store).binding:
        return None
    return cast(Binding, store).bind(policy)
