"""What both colours of ``Hold`` share: a slot's state and checks, and what it says when its lease goes wrong."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision
from ratelimit_core.decorating import denied_message
from ratelimit_core.errors import RateLimitExceeded

__all__ = ["HoldBase", "release_failed", "renewal_failed", "still_held"]

logger = logging.getLogger("ratelimit_core")


def renewal_failed(name: str, error: BaseException) -> bool:
    """A renewal raised: say so; the slot is taken as still held, and renewed again a third of a lease later."""
    logger.warning("could not renew a concurrency slot of %r (%r); trying again", name, error)
    return True


def still_held(name: str, kept: bool) -> bool:
    """``kept``, the renewal's answer; when the store no longer held the slot, say that another may hold it."""
    if not kept:
        logger.warning(
            "a concurrency slot of %r lapsed while held (the store lost it, or a renewal came too late): "
            "another holder may have taken it",
            name,
        )
    return kept


def release_failed(name: str, error: BaseException, cap: Concurrency | None) -> None:
    """A release raised: the slot lapses at its lease instead."""
    logger.warning(
        "could not free a concurrency slot of %r (%r); it lapses within %s s", name, error, cap and cap.lease
    )


class HoldBase:
    """A slot to take for one block: its limiter, key, cost, timeout and holder token; entered once."""

    __slots__ = ("_cost", "_decision", "_holder", "_key", "_limiter", "_store", "_timeout")

    def __init__(self, limiter: Any, key: str, cost: int, timeout: float | None) -> None:
        self._limiter = limiter
        self._key = key
        self._cost = cost
        self._timeout = timeout
        self._holder = secrets.token_hex(8)
        self._decision: Decision | None = None
        self._store: Any = None  # the store that holds the slot, once entered

    @property
    def holder(self) -> str:
        """The token that names this slot in the store."""
        return self._holder

    @property
    def decision(self) -> Decision | None:
        """The decision on entering, or ``None`` before."""
        return self._decision

    def _entering(self) -> None:
        if self._decision is not None:
            raise RuntimeError("this acquire was already entered: call limiter.acquire(...) for each block")

    def _entered(self, decision: Decision, store: Any) -> Decision:
        """Keep the decision; a denial raises ``RateLimitExceeded``; a held slot's renewals start."""
        self._decision = decision
        if not decision.allowed:
            raise RateLimitExceeded(decision, denied_message(decision))
        self._store = store
        if store is not None:
            self._schedule()
        return decision

    def _schedule(self) -> None:
        raise NotImplementedError  # each colour renews in its own way
