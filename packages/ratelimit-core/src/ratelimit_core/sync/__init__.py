"""Rate limiting in blocking calls, for threads, Celery tasks, WSGI views and scripts.

The same names as ``ratelimit_core``, the same decisions and errors::

    from ratelimit_core.sync import Limiter, SqliteStore

    limiter = Limiter("10/second; 1000/hour", store=SqliteStore("/dev/shm/limits.db"), name="api")
    decision = limiter.hit("tenant-7", cost=3)

An async limiter and a sync one with the same name, rates and algorithm, on
the same SQLite file or Redis, share one limit. The decisions are made by
the same code in both colours (the stores' executor, the failure policy);
only the calls around it block here where they await there.
"""

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.concurrency import Concurrency
from ratelimit_core.decision import Decision, RateStatus
from ratelimit_core.errors import RateLimitError, RateLimitExceeded, StoreError
from ratelimit_core.rate import Rate
from ratelimit_core.reservation import Reservation
from ratelimit_core.sync.holding import Hold
from ratelimit_core.sync.limiter import Limiter
from ratelimit_core.sync.memory import MemoryStore
from ratelimit_core.sync.sqlite import SqliteStore
from ratelimit_core.sync.store import Blocking, Holding, Noting, Store

__all__ = [
    "Algorithm",
    "Blocking",
    "Concurrency",
    "Decision",
    "Hold",
    "Holding",
    "Limiter",
    "MemoryStore",
    "Noting",
    "Rate",
    "RateLimitError",
    "RateLimitExceeded",
    "RateStatus",
    "Reservation",
    "SqliteStore",
    "Store",
    "StoreError",
]
