"""The ACL the docs give is enough for every algorithm, and nothing more is needed."""

from __future__ import annotations

from redis.asyncio import Redis

from ratelimit_core import Algorithm, Limiter
from ratelimit_redis import RedisStore

# Kept in step with docs/redis.md, "An ACL for the store".
ACL_RULES = [
    "on",
    ">s3cret",
    "resetkeys",
    "~ratelimit:*",
    "resetchannels",
    "-@all",
    "+evalsha",
    "+eval",
    "+del",
    "+get",
    "+set",
    "+setrange",
    "+append",
    "+getrange",
    "+strlen",
    "+pexpire",
    "+time",
]


async def test_the_documented_acl_runs_every_algorithm(redis: Redis, redis_url: str) -> None:
    await redis.acl_setuser("ratelimit", reset=True)
    await redis.execute_command("ACL", "SETUSER", "ratelimit", *ACL_RULES)  # type: ignore[no-untyped-call]
    limited = Redis.from_url(redis_url, username="ratelimit", password="s3cret")  # noqa: S106 - a test user
    try:
        for algorithm in Algorithm:
            limiter = Limiter("2/minute; 5/hour", algorithm=algorithm, store=RedisStore(limited, timeout=5))
            assert [(await limiter.hit("k")).allowed for _ in range(3)] == [True, True, False]
            assert (await limiter.peek("k")).remaining == 0
            await limiter.reset("k")
            assert (await limiter.hit("k")).allowed
        await redis.script_flush()  # the user may load the scripts again
        assert (await Limiter("1/minute", store=RedisStore(limited, timeout=5)).hit("z")).allowed
    finally:
        await limited.aclose()
        await redis.acl_deluser("ratelimit")
