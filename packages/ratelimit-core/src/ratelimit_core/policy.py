"""A limiter's fixed part (name, algorithm, rates) as stores need it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ratelimit_core.algorithms import AlgorithmMath, math_for
from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision, RateStatus, new_decision, new_rate_status
from ratelimit_core.rate import Rate

__all__ = ["Outcome", "Policy", "policy_for"]

#: One rate's answer as a store reports it:
#: ``(allowed, remaining, reset_after_us, retry_after_us)``, with
#: ``retry_after_us`` ``0`` when allowed and ``None`` when never.
Outcome = tuple[bool, int, int, int | None]

_US = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Policy:
    """What a store needs to decide for a limiter: built once, by the limiter.

    Attributes:
        name: The limiter's name.
        algorithm: The algorithm.
        rates: The rates, all enforced together (all or nothing).
        cap: The concurrency cap, or ``None``: at most ``cap.limit`` holders
            of a key at once, taken with the rates in one step (``acquire``).
        limits: The rates, then the cap when there is one: the order of a
            decision's statuses and of the outcomes :meth:`decision` takes.
        cap_namespace: The cap's slots' namespace, ``"<name>:concurrent:<limit>"``
            (``""`` without a cap).
        block_namespace: The namespace of the key's block (:meth:`Limiter.block
            <ratelimit_core.Limiter.block>`), ``"<name>:block"``: the name's
            alone, so every limiter of one name honours it, whatever its rates.
        note_namespace: The namespace of the key's note (:class:`~ratelimit_core.store.Noting`),
            ``"<name>:note"``, the name's alone too.
        signature: What a store may key its per-policy caches on: the
            namespaces, and the cap with its lease. Policies of equal
            signatures run alike on a store.
        maths: The algorithm's arithmetic for each rate.
        namespaces: One string per rate, ``"<name>:<algorithm>:<limit>/<period µs>[:b<burst>]"``.
            Equal namespaces mean shared state: limiters that differ in name,
            algorithm or rate never share.
        single: The arithmetic when there is exactly one rate, else ``None``
            (a store's fast path).

    These, :meth:`decision` and :meth:`decision_of` are what a store needs
    from the core; they are public and pinned by a test (docs/stores.md).
    """

    name: str
    algorithm: Algorithm
    rates: tuple[Rate, ...]
    cap: Concurrency | None = None
    limits: tuple[Rate | Concurrency, ...] = field(init=False, repr=False, compare=False)
    cap_namespace: str = field(init=False, repr=False, compare=False)
    block_namespace: str = field(init=False, repr=False, compare=False)
    note_namespace: str = field(init=False, repr=False, compare=False)
    signature: tuple[str, ...] = field(init=False, repr=False, compare=False)
    maths: tuple[AlgorithmMath, ...] = field(init=False, repr=False, compare=False)
    namespaces: tuple[str, ...] = field(init=False, repr=False, compare=False)
    single: AlgorithmMath | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a limiter's name must be a non-empty string, got {self.name!r}")
        if not self.rates and self.cap is None:
            raise ValueError("a limiter needs at least one rate or a concurrency cap, got neither")
        if self.cap is not None and not isinstance(self.cap, Concurrency):
            raise ValueError(f"cap must be a Concurrency or None, got {self.cap!r}")
        if self.algorithm is not Algorithm.TOKEN_BUCKET:
            for rate in self.rates:
                if rate.burst is not None:
                    raise ValueError(f"burst applies to the token bucket only, not to {self.algorithm}: {rate}")
        namespaces = tuple(f"{self.name}:{self.algorithm}:{_rate_id(rate)}" for rate in self.rates)
        if len(set(namespaces)) != len(namespaces):
            raise ValueError(f"duplicate rate in {[str(r) for r in self.rates]}: each rate may appear once")
        object.__setattr__(self, "maths", tuple(math_for(self.algorithm, rate) for rate in self.rates))
        object.__setattr__(self, "namespaces", namespaces)
        object.__setattr__(self, "single", self.maths[0] if len(self.maths) == 1 and self.cap is None else None)
        object.__setattr__(self, "limits", self.rates if self.cap is None else (*self.rates, self.cap))
        object.__setattr__(
            self, "cap_namespace", "" if self.cap is None else f"{self.name}:concurrent:{self.cap.limit}"
        )
        object.__setattr__(self, "block_namespace", f"{self.name}:block")
        object.__setattr__(self, "note_namespace", f"{self.name}:note")
        cap = self.cap
        signature = namespaces if cap is None else (*namespaces, f"{self.cap_namespace}:{cap.lease_us}")
        object.__setattr__(self, "signature", signature)

    def decision_of(self, allowed: bool, remaining: int, reset_us: int, retry_us: int | None) -> Decision:
        """The :class:`Decision` of a one-rate (or cap-only) policy from that limit's :data:`Outcome`."""
        rate = self.limits[0]
        if retry_us is None:
            return new_decision(allowed, rate.limit, remaining, reset_us / _US, None, rate, False, None)
        return new_decision(allowed, rate.limit, remaining, reset_us / _US, retry_us / _US, rate, False, None)

    def decision(self, outcomes: Sequence[Outcome]) -> Decision:
        """Combine one :data:`Outcome` per limit (the rates in order, then the cap) into a :class:`Decision`.

        The binding rate is, when denied, the denying rate that keeps the
        caller waiting longest (never beats any wait); when allowed, the rate
        with the fewest units left (ties: the one furthest from full).
        """
        if len(outcomes) == 1:
            return self.decision_of(*outcomes[0])
        statuses = tuple(
            new_rate_status(rate, ok, remaining, reset_us / _US, None if retry_us is None else retry_us / _US)
            for rate, (ok, remaining, reset_us, retry_us) in zip(self.limits, outcomes, strict=True)
        )
        allowed = all(s.allowed for s in statuses)
        if allowed:
            binding = min(statuses, key=_least_room)
        else:
            binding = max((s for s in statuses if not s.allowed), key=_longest_wait)
        return new_decision(
            allowed,
            binding.rate.limit,
            binding.remaining,
            binding.reset_after,
            binding.retry_after,
            binding.rate,
            False,
            statuses,
        )


@lru_cache(maxsize=1024)
def policy_for(name: str, algorithm: Algorithm, rates: tuple[Rate, ...], cap: Concurrency | None = None) -> Policy:
    """``Policy(name, algorithm, rates, cap)``, made once per distinct policy.

    A limiter made per request (a tier chosen from the request) costs a few
    microseconds instead of tens, and holds no arithmetic of its own.
    """
    return Policy(name, algorithm, rates, cap)


def _rate_id(rate: Rate) -> str:
    text = f"{rate.limit}/{rate.period_us}"
    return text if rate.burst is None else f"{text}:b{rate.burst}"


def _least_room(status: RateStatus) -> tuple[int, float]:
    return status.remaining, -status.reset_after


def _longest_wait(status: RateStatus) -> float:
    return float("inf") if status.retry_after is None else status.retry_after
