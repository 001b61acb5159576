"""Stores that admit everything, in both colours: what :func:`~ratelimit_core.testing.limits_off` puts in place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ratelimit_core.decision import Decision
from ratelimit_core.policy import Policy
from ratelimit_core.store import Decide

__all__ = ["SyncUnlimitedStore", "UnlimitedStore", "admitted"]


def admitted(policy: Policy) -> Decision:
    """The decision for a key with every limit's whole room: allowed, nothing to wait for."""
    return policy.decision([(True, limit.limit, 0, 0) for limit in policy.limits])


class UnlimitedCore:
    """Every decision admitted and nothing kept: no state, no blocks, no notes, a slot for every holder."""

    label: ClassVar[str] = "unlimited"
    local: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def bind(self, policy: Policy) -> Decide:
        decision = admitted(policy)
        return lambda key, cost: decision

    def _until(self, policy: Policy) -> tuple[int, ...]:
        """A reservation's units weigh on no rate: a settle gives nothing back (the reservation took nothing)."""
        return (0,) * len(policy.rates)


class UnlimitedStore(UnlimitedCore):
    """The async colour."""

    async def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    async def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    async def reset(self, policy: Policy, key: str) -> None:
        return None

    async def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    async def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        return admitted(policy)

    async def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        return admitted(policy), self._until(policy)

    async def block(self, policy: Policy, key: str, duration: int) -> int:
        return 0

    async def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        return None

    async def read_note(self, policy: Policy, key: str) -> bytes | None:
        return None

    async def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        return admitted(policy)

    async def release(self, policy: Policy, key: str, holder: str) -> None:
        return None

    async def renew(self, policy: Policy, key: str, holder: str) -> bool:
        return True


class SyncUnlimitedStore(UnlimitedCore):
    """The sync colour."""

    def hit(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    def peek(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    def reset(self, policy: Policy, key: str) -> None:
        return None

    def charge(self, policy: Policy, key: str, cost: int) -> Decision:
        return admitted(policy)

    def refund(self, policy: Policy, key: str, cost: int, until: Sequence[int] | None = None) -> Decision:
        return admitted(policy)

    def reserve(self, policy: Policy, key: str, cost: int) -> tuple[Decision, tuple[int, ...]]:
        return admitted(policy), self._until(policy)

    def block(self, policy: Policy, key: str, duration: int) -> int:
        return 0

    def write_note(self, policy: Policy, key: str, text: bytes, ttl: int) -> None:
        return None

    def read_note(self, policy: Policy, key: str) -> bytes | None:
        return None

    def acquire(self, policy: Policy, key: str, cost: int, holder: str) -> Decision:
        return admitted(policy)

    def release(self, policy: Policy, key: str, holder: str) -> None:
        return None

    def renew(self, policy: Policy, key: str, holder: str) -> bool:
        return True
