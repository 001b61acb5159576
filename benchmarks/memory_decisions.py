"""In-memory decisions per second: this project against the seed and the peers, in one run.

Run from the repository root::

    hatch run bench:memory            # full run, writes benchmarks/results/
    hatch run bench:memory --quick    # a quick look, nothing written

Every library is driven the same way: one coroutine awaits its async
decision call in a loop. The cases:

* ``hot``: one key, a limit that admits every call.
* ``hot x100``: the same key, 100 concurrent callers (``asyncio.gather``).
* ``keys``: 10,000 distinct keys in turn, a limit that admits every call.
* ``deny``: one key whose limit is used up: every call is denied.

A second table times this project's token bucket on one hot key under rates
whose interval (period / limit) is a whole number of microseconds, and rates
whose interval is not (3/second, 7/minute), against the first.

Each (case, library) is timed ``--repeat`` times, interleaved so that noise
from other work on the machine falls on everyone alike; the best run counts.
Ratios against the seed (``async-ratelimit`` 0.1.1) matter more than the
absolute figures: the machine is shared.

Bytes per key: traced memory held after 10,000 distinct keys took one unit
each, divided by 10,000 (the key strings themselves are not counted).

Caveat: ``pyrate-limiter``'s ``Limiter`` with one bucket keeps one state for
every name (a hit on one key uses up the limit of all), so its ``keys`` case
and bytes per key do not measure per-key tracking.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import logging
import platform
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

Decide = Callable[[str], Awaitable[object]]
Factory = Callable[[int, float], Decide]  # (limit, period seconds) -> decide(key)

ALGORITHMS = ("token_bucket", "fixed_window", "sliding_window_counter", "sliding_window_log")
KEYS = [f"user-{i}" for i in range(10_000)]
RESULTS = Path(__file__).parent / "results"


# -- adapters: one per library and algorithm ----------------------------------------


def ours(algorithm: str) -> Factory:
    from ratelimit_core import Limiter, Rate

    def make(limit: int, period: float) -> Decide:
        return Limiter(Rate(limit, period), algorithm=algorithm).hit

    return make


def seed(algorithm: str) -> Factory | None:
    from rate_limiter import AlgorithmType, RateLimiterOrchestrator, RateLimiterType

    names = {
        "token_bucket": AlgorithmType.TOKEN_BUCKET,
        "fixed_window": AlgorithmType.FIXED_WINDOW,
        # The seed's in-memory "sliding window" is a counter (its Redis one is a log).
        "sliding_window_counter": AlgorithmType.SLIDING_WINDOW,
    }
    if algorithm not in names:
        return None

    def make(limit: int, period: float) -> Decide:
        return RateLimiterOrchestrator(RateLimiterType.IN_MEMORY, names[algorithm], limit, int(period)).get_response

    return make


def limits_(algorithm: str) -> Factory | None:
    from limits import RateLimitItemPerSecond
    from limits.aio import strategies
    from limits.aio.storage import MemoryStorage

    names = {
        "fixed_window": strategies.FixedWindowRateLimiter,
        "sliding_window_counter": strategies.SlidingWindowCounterRateLimiter,
        "sliding_window_log": strategies.MovingWindowRateLimiter,
    }
    if algorithm not in names:
        return None

    def make(limit: int, period: float) -> Decide:
        strategy = names[algorithm](MemoryStorage())
        item = RateLimitItemPerSecond(limit, int(period))

        async def decide(key: str) -> bool:
            return await strategy.hit(item, key)

        return decide

    return make


def throttled_(algorithm: str) -> Factory | None:
    from throttled.asyncio import MemoryStore, RateLimiterType, Throttled, rate_limiter

    names = {
        "token_bucket": RateLimiterType.GCRA,
        "fixed_window": RateLimiterType.FIXED_WINDOW,
        "sliding_window_counter": RateLimiterType.SLIDING_WINDOW,
    }
    if algorithm not in names:
        return None

    def make(limit: int, period: float) -> Decide:
        quota = rate_limiter.per_duration(__import__("datetime").timedelta(seconds=period), limit=limit)
        # Its store keeps 1,024 keys by default and forgets the rest; hold as many as ours does.
        store = MemoryStore(options={"MAX_SIZE": 100_000})
        throttle = Throttled(using=names[algorithm].value, quota=quota, store=store)
        return throttle.limit

    return make


def pyrate(algorithm: str) -> Factory | None:
    import pyrate_limiter as p

    def bucket(rates: list[p.Rate]) -> p.AbstractBucket:
        if algorithm == "token_bucket":
            return p.StateBucket(rates, algorithm=p.GCRA())
        if algorithm == "fixed_window":
            return p.InMemoryBucket(rates, algorithm=p.FixedWindow())
        return p.InMemoryBucket(rates)  # the sliding log

    if algorithm == "sliding_window_counter":
        return None

    def make(limit: int, period: float) -> Decide:
        limiter = p.Limiter(bucket([p.Rate(limit, int(period * 1000))]))

        async def decide(key: str) -> bool:
            return await limiter.try_acquire_async(key, blocking=False)

        return decide

    return make


def bare(algorithm: str) -> Factory | None:
    """The GCRA arithmetic in one bare async function on a dict: the floor."""
    if algorithm != "token_bucket":
        return None

    def make(limit: int, period: float) -> Decide:
        tats: dict[str, int] = {}
        interval = round(period * 1_000_000) // limit
        tolerance = interval * limit
        clock = time.monotonic_ns

        async def decide(key: str) -> bool:
            now = clock() // 1000
            tat = tats.get(key, now)
            new = (tat if tat > now else now) + interval
            if new - now > tolerance:
                return False
            tats[key] = new
            return True

        return decide

    return make


LIBRARIES: dict[str, Callable[[str], Factory | None]] = {
    "ratelimit": ours,
    "async-ratelimit (seed)": seed,
    "limits": limits_,
    "throttled-py": throttled_,
    "pyrate-limiter": pyrate,
    "bare async function": bare,
}
DISTRIBUTIONS = {
    "ratelimit": "ratelimit-core",
    "async-ratelimit (seed)": "async-ratelimit",
    "limits": "limits",
    "throttled-py": "throttled-py",
    "pyrate-limiter": "pyrate-limiter",
}


# -- cases -------------------------------------------------------------------------


def case_setup(case: str, algorithm: str, ops: int) -> tuple[int, float, list[str]]:
    """(limit, period, keys to cycle through) for a case."""
    if case == "deny":
        return 1, 3600, ["hot"]
    if case == "keys":
        return max(10, 4 * ops // len(KEYS)), 3600, KEYS
    # hot (and hot x100): admit every call. A log holds one entry per admitted unit, so its
    # limit is what a run needs, not more. 10^8 per hour has a whole number of
    # microseconds per unit, as most configured rates do (100/minute, 10/second).
    return (ops * 4 if algorithm == "sliding_window_log" else 100_000_000), 3600, ["hot"]


async def timed_run(decide: Decide, keys: list[str], ops: int, prime: bool, callers: int = 1) -> float:
    """Decisions per second over ``ops`` calls, made by ``callers`` concurrent loops."""
    if prime:  # the deny case: use the limit up first
        for _ in range(3):
            await decide(keys[0])
    n, each = len(keys), ops // callers

    async def caller() -> None:
        for i in range(each):
            await decide(keys[i % n])

    started = time.perf_counter_ns()
    if callers == 1:
        await caller()
    else:
        await asyncio.gather(*(caller() for _ in range(callers)))
    return each * callers / ((time.perf_counter_ns() - started) / 1e9)


async def throughput(case: str, algorithm: str, ops: int, repeat: int) -> dict[str, float]:
    factories = {name: f for name, adapter in LIBRARIES.items() if (f := adapter(algorithm)) is not None}
    best: dict[str, float] = dict.fromkeys(factories, 0.0)
    limit, period, keys = case_setup(case, algorithm, ops)
    for _ in range(repeat):
        for name, factory in factories.items():
            decide = factory(limit, period)
            gc.collect()
            callers = 100 if case == "hot x100" else 1
            best[name] = max(best[name], await timed_run(decide, keys, ops, prime=case == "deny", callers=callers))
    return best


async def bytes_held(decide: Decide, keys: list[str]) -> int:
    """Memory still held (traced) after ``keys`` each took one decision; the keys themselves not counted."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key in keys:
        await decide(key)
    gc.collect()
    held: int = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held


async def bytes_per_key(algorithm: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, adapter in LIBRARIES.items():
        factory = adapter(algorithm)
        if factory is None or name == "bare async function":
            continue
        decide = factory(100, 3600)
        await decide("warm-up")  # lazily built structures are not per-key costs
        out[name] = await bytes_held(decide, KEYS) / len(KEYS)
    return out


#: Token-bucket rates for the interval table: whole microseconds per unit, and not
#: (a tick is then a fraction of a microsecond). Bursts let every call of a run fit.
INTERVAL_RATES = {
    "100000000/hour (36 µs)": (100_000_000, 3600, None),
    "10/second (100,000 µs)": (10, 1, 10**9),
    "3/second (333,333.3 µs)": (3, 1, 10**9),
    "7/minute (8,571,428.6 µs)": (7, 60, 10**9),
}


async def interval_cost(ops: int, repeat: int) -> dict[str, float]:
    """This project's hot key under rates whose interval is, and is not, a whole number of µs."""
    from ratelimit_core import Limiter, Rate

    best = dict.fromkeys(INTERVAL_RATES, 0.0)
    for _ in range(repeat):
        for name, (limit, period, burst) in INTERVAL_RATES.items():
            decide = Limiter(Rate(limit, period, burst=burst)).hit
            gc.collect()
            best[name] = max(best[name], await timed_run(decide, ["hot"], ops, prime=False))
    return best


# -- report ------------------------------------------------------------------------


def table(rows: list[dict[str, str]], columns: list[str]) -> str:
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c == columns[0] else "---:" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    return "\n".join(lines)


async def measured(ops: int, repeat: int) -> list[dict[str, str]]:
    """Every library's decisions per second, per algorithm and case, and its bytes per key."""
    records: list[dict[str, str]] = []
    for algorithm in ALGORITHMS:
        for case in ("hot", "hot x100", "keys", "deny"):
            results = await throughput(case, algorithm, ops, repeat)
            seed_rate = results.get("async-ratelimit (seed)")
            for library, rate in results.items():
                records.append(
                    {
                        "algorithm": algorithm,
                        "case": case,
                        "library": library,
                        "decisions/s": f"{rate:,.0f}",
                        "µs/decision": f"{1e6 / rate:.2f}",
                        "x seed": f"{rate / seed_rate:.2f}" if seed_rate else "",
                    }
                )
                print(f"{algorithm:24} {case:5} {library:24} {rate:12,.0f}/s", file=sys.stderr)
        for library, size in (await bytes_per_key(algorithm)).items():
            records.append(
                {"algorithm": algorithm, "case": "bytes/key", "library": library, "bytes/key": f"{size:.0f}"}
            )
    return records


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats; writes nothing")
    parser.add_argument("--ops", type=int, default=None, help="decisions per timed run")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per case and library")
    args = parser.parse_args()
    ops = args.ops or (20_000 if args.quick else 100_000)
    repeat = args.repeat or (2 if args.quick else 5)
    logging.disable(logging.CRITICAL)  # no library's log lines reach a handler

    print(f"ops={ops} repeat={repeat}", file=sys.stderr)
    records = await measured(ops, repeat)
    intervals = await interval_cost(ops, repeat)
    whole = intervals["100000000/hour (36 µs)"]
    interval_rows = [
        {
            "rate": name,
            "decisions/s": f"{rate:,.0f}",
            "µs/decision": f"{1e6 / rate:.2f}",
            "x 36 µs": f"{rate / whole:.2f}",
        }
        for name, rate in intervals.items()
    ]
    versions = ", ".join(f"{d} {version(d)}" for d in DISTRIBUTIONS.values())
    header = (
        f"# In-memory decisions\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"{platform.machine()}, {__import__('os').cpu_count()} cores; ops={ops}, best of {repeat}.\n\n{versions}.\n"
    )
    speed = [r for r in records if r["case"] != "bytes/key"]
    sizes = [r for r in records if r["case"] == "bytes/key"]
    report = (
        header
        + "\n## Decisions per second\n\n"
        + table(speed, ["algorithm", "case", "library", "decisions/s", "µs/decision", "x seed"])
        + "\n\n## Token bucket: intervals that are not whole microseconds\n\n"
        + table(interval_rows, ["rate", "decisions/s", "µs/decision", "x 36 µs"])
        + "\n\n## Memory held per tracked key\n\n"
        + table(sizes, ["algorithm", "library", "bytes/key"])
        + "\n"
    )
    print(report)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "memory.md").write_text(report)
        with (RESULTS / "memory.csv").open("w", newline="") as f:
            fields = ["algorithm", "case", "library", "decisions/s", "µs/decision", "x seed", "bytes/key"]
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(records)


if __name__ == "__main__":
    asyncio.run(main())
