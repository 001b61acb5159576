"""Errors raised by the limiter and its stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ratelimit_core.decision import Decision

__all__ = ["RateLimitError", "RateLimitExceeded", "StoreError"]


class RateLimitError(Exception):
    """Base class of every error this library raises on purpose."""


class RateLimitExceeded(RateLimitError):
    """``Limiter.wait`` could not be admitted in time; ``decision`` is the last denial."""

    def __init__(self, decision: Decision, message: str | None = None) -> None:
        super().__init__(message or f"rate limit exceeded (retry after {decision.retry_after!r} s)")
        self.decision = decision


class StoreError(RateLimitError):
    """A store failed to answer (connection lost, timeout, out of memory...).

    The backend's own exception is kept as ``__cause__``.
    """
