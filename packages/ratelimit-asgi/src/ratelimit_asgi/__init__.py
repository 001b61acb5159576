"""Pure ASGI rate limiting middleware for ratelimit-core.

```python
from ratelimit_core import Limiter
from ratelimit_asgi import RateLimitMiddleware, client_ip

app.add_middleware(RateLimitMiddleware, limiter=Limiter("100/minute"),
                   key_func=client_ip(trusted_proxies=["10.0.0.0/8"]))
```
"""

from ratelimit_asgi.__about__ import __version__
from ratelimit_asgi.config import LimitConfig, RateLimitConfig, RuleConfig
from ratelimit_asgi.dependency import RateLimit
from ratelimit_asgi.keys import ANONYMOUS, UNIX, KeyFunc, api_key, client_address, client_ip, header
from ratelimit_asgi.middleware import DecisionEvent, RateLimiterMiddleware, RateLimitMiddleware
from ratelimit_asgi.problems import RateLimitRefusal, problem_handler
from ratelimit_asgi.rules import LimiterResolver, Rule
from ratelimit_asgi.settle import Completion, Settle, from_header, report_cost, reported

__all__ = [
    "ANONYMOUS",
    "UNIX",
    "Completion",
    "DecisionEvent",
    "KeyFunc",
    "LimitConfig",
    "LimiterResolver",
    "RateLimit",
    "RateLimitConfig",
    "RateLimitMiddleware",
    "RateLimitRefusal",
    "RateLimiterMiddleware",
    "Rule",
    "RuleConfig",
    "Settle",
    "__version__",
    "api_key",
    "client_address",
    "client_ip",
    "from_header",
    "header",
    "problem_handler",
    "report_cost",
    "reported",
]
