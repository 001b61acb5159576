"""The public face of ratelimit-client, pinned."""

from __future__ import annotations

import ratelimit_client


def test_top_level_exports() -> None:
    assert sorted(ratelimit_client.__all__) == [
        "AsyncRateLimitTransport",
        "ClientMiddleware",
        "IDEMPOTENT",
        "NAME",
        "Quota",
        "RateLimitTransport",
        "Reading",
        "__version__",
        "by_host",
        "rate_limit_middleware",
        "read",
    ]
    for name in ratelimit_client.__all__:
        assert getattr(ratelimit_client, name) is not None


def test_the_package_imports_neither_httpx_nor_aiohttp_until_asked() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = "import sys, ratelimit_client; print('httpx' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_sync_flow_is_written_from_the_async_one() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    script = Path(__file__).resolve().parents[3] / "scripts" / "unasync_client.py"
    checked = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
