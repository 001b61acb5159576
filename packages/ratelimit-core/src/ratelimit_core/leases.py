"""What a held slot says when its renewal or its release goes wrong: one wording for both colours of ``Hold``."""

from __future__ import annotations

import logging

from ratelimit_core.concurrency import Concurrency

__all__ = ["release_failed", "renewal_failed", "still_held"]

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
