"""A cost estimated before the work and settled after it: :class:`Reservation`."""

from __future__ import annotations

from typing import Generic, Literal, Protocol, TypeVar

from ratelimit_core.decision import Decision

__all__ = ["Reservation"]

#: What the limiter's calls give: a coroutine of a ``Decision`` (``ratelimit_core``) or a ``Decision`` (``.sync``).
R_co = TypeVar("R_co", covariant=True)


class _Accounts(Protocol[R_co]):
    """The calls of a limiter, of either colour, that a reservation makes."""

    def charge(self, key: str, cost: int = 1) -> R_co: ...

    def peek(self, key: str, cost: int = 1) -> R_co: ...

    def _account(
        self, action: Literal["charge", "refund"], key: str, cost: int, until: tuple[int, ...] | None = None
    ) -> R_co: ...


class Reservation(Generic[R_co]):
    """What :meth:`Limiter.reserve` returns: a hit of an estimate, to be settled once.

    One class for both colours: :meth:`settle` and :meth:`cancel` return what
    the limiter's call returns, a coroutine to await for ``ratelimit_core``'s
    limiter and the decision itself for ``ratelimit_core.sync``'s.

    ::

        reservation = await limiter.reserve("user-42", estimate=500)  # LLM tokens, say
        if not reservation:
            ...  # denied: reservation.decision.retry_after says how long to wait
        used = await run_the_model()
        await reservation.settle(used)  # charges or refunds the difference

    An admitted reservation has consumed its estimate; a denied one has
    consumed nothing. :meth:`settle` brings what was consumed to the real
    cost (a charge above it, a refund below it) and :meth:`cancel` gives all
    of it back. Either happens once: a second call raises ``RuntimeError``.
    A reservation that is never settled stays charged at its estimate.

    A refund gives back only what the reserved units still weigh: nothing of
    a window that has closed since, nothing a token bucket has refilled since
    (its units are the ones the hit queued), only the log entries the hit
    wrote. A reservation admitted by a fallback store or the failure policy
    (``decision.degraded``) gives nothing back: the primary store never held
    its units.

    Attributes:
        key: The key it was made for.
        estimate: The units it hit.
        decision: The hit's decision.
    """

    __slots__ = ("_done", "_limiter", "_until", "decision", "estimate", "key")

    def __init__(
        self, limiter: _Accounts[R_co], key: str, estimate: int, decision: Decision, until: tuple[int, ...] | None
    ) -> None:
        self._limiter = limiter
        self.key = key
        self.estimate = estimate
        self.decision = decision
        self._until = until  # the store's answer to "until when do these units weigh?", per rate
        self._done = False

    def __bool__(self) -> bool:
        """Whether the estimate was admitted."""
        return self.decision.allowed

    def __repr__(self) -> str:
        state = "settled" if self._done else "open"
        return f"Reservation(key={self.key!r}, estimate={self.estimate}, allowed={self.decision.allowed}, {state})"

    @property
    def consumed(self) -> int:
        """The units the hit consumed: the estimate when admitted, else 0."""
        return self.estimate if self.decision.allowed else 0

    def settle(self, actual: int) -> R_co:
        """Bring what this reservation consumed to ``actual`` units, once.

        Above the estimate the difference is charged (an overdraft if need
        be); below it the difference is refunded. A denied reservation
        consumed nothing, so ``actual`` is charged in full: the work was done.
        Returns the decision of that charge or refund (what a peek says after).

        Raises:
            ValueError: ``actual`` is not an int >= 0.
            RuntimeError: the reservation was already settled or cancelled.
        """
        if actual.__class__ is not int or actual < 0:
            raise ValueError(f"actual must be an int >= 0, got {actual!r}")
        self._close("settle")
        difference = actual - self.consumed
        if difference < 0:
            return self._give_back(-difference)
        return self._limiter.charge(self.key, difference)

    def cancel(self) -> R_co:
        """Give back everything this reservation consumed, once (the work did not happen).

        Raises:
            RuntimeError: the reservation was already settled or cancelled.
        """
        self._close("cancel")
        return self._give_back(self.consumed)

    def _give_back(self, units: int) -> R_co:
        if self._until is None:  # the primary store never held them
            return self._limiter.peek(self.key)
        return self._limiter._account("refund", self.key, units, self._until)

    def _close(self, action: str) -> None:
        if self._done:
            raise RuntimeError(f"cannot {action} {self!r}: a reservation is settled or cancelled once")
        self._done = True
