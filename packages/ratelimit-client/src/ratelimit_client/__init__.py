"""Rate limits for outgoing calls, learnt from what the upstream says (under construction).

This release holds the reading of every rate limit header format
(:func:`read`): the transports for httpx and aiohttp come next.
"""

from ratelimit_client.__about__ import __version__
from ratelimit_client.headers import Quota, Reading, read

__all__ = ["Quota", "Reading", "__version__", "read"]
