"""Write ratelimit_client/sync_flow.py from flow.py: the blocking twin of the async flow, never edited by hand.

``hatch run client:unasync`` rewrites it; ``--check`` exits 1 when it is stale
(the client's tests run the check). Each rewrite is a plain text replacement,
listed below in order; a replacement that no longer matches is an error, so
that a change to flow.py cannot leave the twin half-rewritten.
"""

from __future__ import annotations

import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "packages" / "ratelimit-client" / "src" / "ratelimit_client"

REWRITES = (
    (
        '''"""What both async shells (the httpx transport, the aiohttp middleware) do around an exchange: the I/O of a
:class:`~ratelimit_client.gate.Gate`'s decisions, on an event loop."""''',
        '''"""What the sync httpx transport does around an exchange: the I/O of a :class:`~ratelimit_client.gate.Gate`'s
decisions, in blocking calls from any thread; the twin of :mod:`ratelimit_client.flow`.

Written from flow.py by scripts/unasync_client.py: edit flow.py, then run ``hatch run client:unasync``.
"""''',
    ),
    ("import asyncio\nimport time\n", "import threading\nimport time\n"),
    (  # the sync limiter's calls block already: no path without a coroutine to take first
        """        if limiter.nowait and gate.settle is None and limiter.hit_nowait(key, units).allowed:
            return _NOTHING  # admitted at once by a store of this process: no coroutine, no queue
""",
        "",
    ),
    (
        "from ratelimit_core import Limiter, RateLimitExceeded, Reservation\n",
        "from ratelimit_core import RateLimitExceeded, Reservation\n",
    ),
    ("from ratelimit_core.holding import Hold\n", "from ratelimit_core.sync import Hold, Limiter\n"),
    (
        "        self._teaching: dict[str, asyncio.Event] = {}",
        "        self._teaching: dict[str, threading.Event] = {}\n"
        "        self._lock = threading.Lock()  # guards _teaching",
    ),
    (
        """            teacher = self._teaching.get(key)
            if teacher is None:
                self._teaching[key] = asyncio.Event()
                if await self._recall(key):
                    self.taught(key)
                    return False
                return True
            left = None if deadline is None else deadline - time.monotonic()
            try:
                await asyncio.wait_for(teacher.wait(), left)
            except TimeoutError:
                why = "timed out waiting for the first response to teach the limit"
                raise exceeded(None, why, self.gate.pauses.policy.limits[0]) from None""",
        """            with self._lock:
                teacher = self._teaching.get(key)
                if teacher is None:
                    self._teaching[key] = threading.Event()
            if teacher is None:
                if self._recall(key):
                    self.taught(key)
                    return False
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not teacher.wait(left):
                why = "timed out waiting for the first response to teach the limit"
                raise exceeded(None, why, self.gate.pauses.policy.limits[0])""",
    ),
    ("        self._teaching.pop(key).set()", "        with self._lock:\n            self._teaching.pop(key).set()"),
    ("await asyncio.sleep(", "time.sleep("),
    ("await hold.__aenter__()", "hold.__enter__()"),
    ("await self.hold.__aexit__(None, None, None)", "self.hold.__exit__(None, None, None)"),
    ("async def aclose(self, actual: int | None) -> None:", "def close(self, actual: int | None) -> None:"),
    ("async def ", "def "),
    ("await ", ""),
)


def sync_flow() -> str:
    """sync_flow.py's text, written from flow.py."""
    text = (FOLDER / "flow.py").read_text()
    for old, new in REWRITES:
        if old not in text:
            raise SystemExit(f"unasync_client: flow.py no longer holds {old[:60]!r}: update scripts/unasync_client.py")
        text = text.replace(old, new)
    return text


def main(argv: list[str]) -> int:
    target = FOLDER / "sync_flow.py"
    text = sync_flow()
    if "--check" in argv:
        if target.read_text() != text:
            print("sync_flow.py is stale: run 'hatch run client:unasync'", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
