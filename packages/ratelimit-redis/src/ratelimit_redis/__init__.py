"""A Redis store for ratelimit-core: one atomic Lua script per decision.

```python
from redis.asyncio import Redis
from ratelimit_core import Limiter
from ratelimit_redis import RedisStore

limiter = Limiter("100/minute", store=RedisStore(Redis.from_url("redis://localhost:6379/0")))
```
"""

from ratelimit_redis.__about__ import __version__
from ratelimit_redis.store import RedisStore

__all__ = ["RedisStore", "__version__"]
