"""Async-native rate limiting: rates, algorithms, stores and the limiter.

Standard library only. ``pip install ratelimit-redis`` for a distributed
store, ``ratelimit-asgi`` for ASGI middleware.
"""

from ratelimit_core.__about__ import __version__
from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision, RateStatus
from ratelimit_core.deny_cache import DenyCachedStore
from ratelimit_core.errors import RateLimitError, RateLimitExceeded, StoreError
from ratelimit_core.holding import Hold
from ratelimit_core.limiter import Limiter, OnError
from ratelimit_core.memory import MemoryStore
from ratelimit_core.policy import Outcome, Policy
from ratelimit_core.rate import Rate, parse_limits, parse_rates
from ratelimit_core.reservation import Reservation
from ratelimit_core.sqlite import SqliteStore
from ratelimit_core.store import Store

__all__ = [
    "Algorithm",
    "Concurrency",
    "Decision",
    "DenyCachedStore",
    "Hold",
    "Limiter",
    "MemoryStore",
    "OnError",
    "Outcome",
    "Policy",
    "Rate",
    "RateLimitError",
    "RateLimitExceeded",
    "RateStatus",
    "Reservation",
    "SqliteStore",
    "Store",
    "StoreError",
    "__version__",
    "parse_limits",
    "parse_rates",
]
