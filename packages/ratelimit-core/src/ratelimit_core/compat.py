"""The documented API of ``async-ratelimit`` 0.1.1, on this library.

Only the import changes::

    from ratelimit_core.compat import RateLimiterOrchestrator, AlgorithmType, RateLimiterType

    limiter = RateLimiterOrchestrator(
        rate_limiter_type=RateLimiterType.IN_MEMORY,
        algorithm_type=AlgorithmType.TOKEN_BUCKET,
        max_requests=100,
        time_window=60,
    )
    response = await limiter.get_response(uId="user-123")

Differences from 0.1.1, all deliberate:

* Store errors propagate (as :class:`~ratelimit_core.StoreError`) instead of
  being turned into denials, so a middleware's ``fail_open`` really applies.
* ``SLIDING_WINDOW`` is the exact sliding log on every backend (0.1.1 used a
  counter in memory and a log in Redis).
* The token bucket no longer floors tokens on every call, so steady traffic at
  the configured rate is never starved.
* ``reset_time`` is, when allowed, the seconds until the limit is fully
  restored; when denied, the seconds until a request would be admitted.
* The models are frozen dataclasses, not pydantic models.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, NoReturn

from ratelimit_core.algorithms.names import Algorithm
from ratelimit_core.limiter import Limiter
from ratelimit_core.rate import Rate
from ratelimit_core.store import Store

__all__ = ["AlgorithmType", "Client", "RateLimiterOrchestrator", "RateLimiterType", "Response", "Rules"]


class AlgorithmType(str, Enum):
    """The seed's algorithm names."""

    FIXED_WINDOW = "fixed_window"
    SLIDING_WINDOW = "sliding_window"
    TOKEN_BUCKET = "token_bucket"


class RateLimiterType(str, Enum):
    """The seed's backend names."""

    IN_MEMORY = "in_memory"
    REDIS = "redis"


_ALGORITHMS = {
    AlgorithmType.FIXED_WINDOW: Algorithm.FIXED_WINDOW,
    AlgorithmType.SLIDING_WINDOW: Algorithm.SLIDING_WINDOW_LOG,
    AlgorithmType.TOKEN_BUCKET: Algorithm.TOKEN_BUCKET,
}


@dataclass(frozen=True, slots=True)
class Rules:
    """The limit as the seed states it."""

    max_requests: int
    time_window: int  # seconds


@dataclass(frozen=True, slots=True)
class Client:
    """The seed's identity wrapper."""

    uId: str  # noqa: N815 - the seed's name


@dataclass(frozen=True, slots=True)
class Response:
    """The seed's answer."""

    allowed: bool
    remaining_requests: int
    reset_time: float


class RateLimiterOrchestrator:
    """The seed's entry point, backed by a :class:`~ratelimit_core.Limiter`.

    Raises:
        ValueError: with the seed's messages for a bad window, limit or a
            missing Redis client.
        ImportError: ``RateLimiterType.REDIS`` without ``ratelimit-redis`` installed.
    """

    def __init__(
        self,
        rate_limiter_type: RateLimiterType,
        algorithm_type: AlgorithmType,
        max_requests: int,
        time_window: int,
        redis_client: Any = None,
    ) -> None:
        if time_window <= 0:
            raise ValueError("Time window must be a positive integer.")
        if max_requests <= 0:
            raise ValueError("Max requests must be a positive integer.")
        rate_limiter_type = RateLimiterType(rate_limiter_type)
        store: Store | None = None
        if rate_limiter_type is RateLimiterType.REDIS:
            if redis_client is None:
                raise ValueError("Redis client must be provided for Redis rate limiter.")
            store = _redis_store(redis_client)
        self._rules = Rules(max_requests=max_requests, time_window=time_window)
        self._limiter = Limiter(
            Rate(max_requests, time_window),
            algorithm=_ALGORITHMS[AlgorithmType(algorithm_type)],
            store=store,
        )

    def __repr__(self) -> str:
        return f"RateLimiterOrchestrator({self._rules!r}, limiter={self._limiter!r})"

    @property
    def limiter(self) -> Limiter:
        """The :class:`~ratelimit_core.Limiter` doing the work."""
        return self._limiter

    async def get_response(self, uId: str) -> Response:  # noqa: N803 - the seed's name
        """Count one request for ``uId``.

        Raises:
            ValueError: ``uId`` is not a string (the seed's kind of error for a bad argument).
            StoreError: the store failed.
        """
        if uId.__class__ is not str:
            _bad_user_id(uId)
        decision = await self._limiter.hit(uId)
        if decision.allowed:
            return Response(True, decision.remaining, decision.reset_after)
        return Response(False, decision.remaining, decision.retry_after or decision.reset_after)

    async def reset(self, uId: str) -> None:  # noqa: N803
        """Forget what ``uId`` has consumed."""
        if uId.__class__ is not str:
            _bad_user_id(uId)
        await self._limiter.reset(uId)

    def get_rules(self) -> Rules:
        """The configured limit."""
        return self._rules


def _bad_user_id(uid: object) -> NoReturn:
    raise ValueError(f"User ID must be a string, got {type(uid).__name__} {uid!r}.")


def _redis_store(client: Any) -> Store:
    try:
        from ratelimit_redis import RedisStore  # type: ignore[attr-defined,unused-ignore]  # noqa: PLC0415 - optional
    except ImportError as exc:
        raise ImportError(
            "RateLimiterType.REDIS needs the ratelimit-redis package: pip install ratelimit-redis"
        ) from exc
    store: Store = RedisStore(client)
    return store
