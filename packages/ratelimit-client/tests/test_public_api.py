"""The public face of ratelimit-client, pinned."""

from __future__ import annotations

import ratelimit_client


def test_top_level_exports() -> None:
    assert sorted(ratelimit_client.__all__) == ["Quota", "Reading", "__version__", "read"]
