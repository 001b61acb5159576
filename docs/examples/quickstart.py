"""A burst against a token bucket of 5/second, in memory, on the real clock.

Run it with ``hatch run demo`` from the repository root (about two seconds).
"""

from __future__ import annotations

import asyncio
import time

from ratelimit_core import Limiter


async def main() -> None:
    limiter = Limiter("5/second", name="demo")  # token bucket, in memory
    print(f"{limiter!r}\n")
    print(f"{'t (s)':>6}  {'request':<10} {'allowed':<8} {'remaining':>9} {'retry after (s)':>16}")
    started = time.monotonic()

    async def request(label: str) -> None:
        decision = await limiter.hit("client-1")
        retry = "-" if decision.allowed else f"{decision.retry_after:.3f}"
        elapsed = time.monotonic() - started
        print(f"{elapsed:6.2f}  {label:<10} {decision.allowed!s:<8} {decision.remaining:>9} {retry:>16}")

    for i in range(8):  # a burst: five fit, the rest are denied
        await request(f"burst {i + 1}")
    await asyncio.sleep(0.5)  # 2.5 tokens come back
    for i in range(3):
        await request(f"later {i + 1}")
    decision = await limiter.wait("client-1", timeout=1)  # sleeps until admitted
    print(f"{time.monotonic() - started:6.2f}  {'wait()':<10} {decision.allowed!s:<8} {decision.remaining:>9}")


if __name__ == "__main__":
    asyncio.run(main())
