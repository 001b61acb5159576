"""What the store suite's cases share: the checks, the limiters they make, the capabilities they need."""

from __future__ import annotations

import unittest
import uuid
from typing import cast

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.limiter import Limiter
from ratelimit_core.store import Blocking, Holding, Store

__all__ = ["ALGORITHMS", "as_blocking", "as_holding", "expect", "new_limiter", "new_name"]

ALGORITHMS = tuple(Algorithm)


def expect(condition: object, message: object) -> None:
    """``assert``, kept under ``python -O`` (a suite that skipped its checks would pass anything)."""
    if not condition:
        raise AssertionError(message)


def as_holding(store: Store) -> Holding:
    """``store`` as a store that keeps slots, or skip the test."""
    if not isinstance(store, Holding):
        raise unittest.SkipTest(f"{store!r} keeps no concurrency slots (ratelimit_core.store.Holding)")
    return cast(Holding, store)


def as_blocking(store: Store) -> Blocking:
    """``store`` as a store that keeps blocks, or skip the test."""
    if not isinstance(store, Blocking):
        raise unittest.SkipTest(f"{store!r} keeps no blocks (ratelimit_core.store.Blocking)")
    return cast(Blocking, store)


def new_name() -> str:
    return f"suite-{uuid.uuid4().hex[:12]}"


def new_limiter(rates: str, algorithm: Algorithm, store: Store) -> Limiter:
    return Limiter(rates, algorithm=algorithm, name=new_name(), store=store)
