"""Before and after: one benchmark, an earlier commit's code against this tree's, taking turns in one run.

Run from the repository root::

    hatch run bench:compare fdbfa8e memory          # bench:memory, that commit (A) against this tree (B)
    hatch run bench:compare main asgi --rounds 8
    hatch run bench:compare main redis --rounds 3     # one redis-server on loopback, started by the script
    hatch run bench:compare ff91021 handoff --rounds 3

The earlier code is checked out into a temporary worktree and imported ahead of
this tree's (``PYTHONPATH``), by the same interpreter and the same peers, so
only our code differs. Each round runs A's script then B's, in ``--quick``
mode. Each of our rows is read as a ratio to a yardstick measured in the same
process (the seed, ``async-ratelimit``, for decisions; the bare app's time for
the middleware), which takes the machine's drift out; the table gives the
medians and B / A. Writes ``benchmarks/results/compare_<benchmark>.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCRIPTS = {
    "memory": "memory_decisions.py",
    "asgi": "asgi_requests.py",
    "redis": "redis_decisions.py",
    "handoff": "slot_handoff.py",
}
UNITS = {
    "memory": "x the seed's decisions/s",
    "redis": "x the seed's decisions/s",
    "asgi": "x the bare app's time (lower: faster)",
    "handoff": "median ms from a release to the next start, or asks per slot (lower: better)",
}
PACKAGES = ("ratelimit-core", "ratelimit-redis", "ratelimit-asgi")

_MEMORY_ROW = re.compile(r"^(\w+)\s+(hot x100|hot|keys|deny)\s+(.+?)\s+([\d,]+)/s$")
_REDIS_ROW = re.compile(r"^\| (\w+) \| ([^|]+?) \| ([^|]+?) \| ([\d,]+) \| [\d.]+ \|$")
_HANDOFF_ROW = re.compile(r"^\| ([^|]+?) \| (\w+) \| \d+ \| ([\d.]+) \| [\d.]+ \| ([\d.]+) \|$")
_ASGI_ROW = re.compile(r"^\| ratelimit-asgi \| ([^|]+) \| [\d,]+ \| [\d.]+ \| [^|]* \| ([\d.]+) \|")


def memory_ratios(text: str) -> dict[str, float]:
    """Our decisions per second over the seed's (over limits' for the log, which the seed lacks), per case."""
    rows = {}
    for line in text.splitlines():
        match = _MEMORY_ROW.match(line.strip())
        if match:
            rows[match[1], match[2], match[3].strip()] = int(match[4].replace(",", ""))
    out = {}
    for (algorithm, case, library), rate in rows.items():
        if library == "ratelimit":
            yardstick = rows.get((algorithm, case, "async-ratelimit (seed)")) or rows[algorithm, case, "limits"]
            out[f"{algorithm}, {case}"] = rate / yardstick
    return out


def redis_ratios(text: str) -> dict[str, float]:
    """Our decisions per second on one Redis over the seed's (over limits' where the seed lacks the algorithm)."""
    rows = {}
    for line in text.splitlines():
        match = _REDIS_ROW.match(line.strip())
        if match:
            rows[match[1], match[2], match[3]] = int(match[4].replace(",", ""))
    out = {}
    for (algorithm, case, library), rate in rows.items():
        yardstick = rows.get((algorithm, case, "async-ratelimit (seed)")) or rows.get((algorithm, case, "limits"))
        if library == "ratelimit" and yardstick:
            out[f"{algorithm}, {case}"] = rate / yardstick
    return out


def handoff_figures(text: str) -> dict[str, float]:
    """Median milliseconds from a release to the next holder's start, and asks per slot taken, per case."""
    out = {}
    for line in text.splitlines():
        match = _HANDOFF_ROW.match(line.strip())
        if match:
            out[f"{match[1]}, {match[2]}: handoff"] = float(match[3])
            out[f"{match[1]}, {match[2]}: asks"] = float(match[4])
    return out


def asgi_ratios(text: str) -> dict[str, float]:
    """Our time per request over the bare app's, per case (lower is faster)."""
    return {m[1].strip(): float(m[2]) for line in text.splitlines() if (m := _ASGI_ROW.match(line))}


def run(script: Path, sources: Path | None) -> str:
    env = dict(os.environ)
    if sources is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(sources / p / "src") for p in PACKAGES)
    done = subprocess.run([sys.executable, str(script), "--quick"], env=env, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr  # the scripts print each timing to stderr as it comes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the earlier commit (A)")
    parser.add_argument("benchmark", choices=sorted(SCRIPTS))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    parse = {"memory": memory_ratios, "asgi": asgi_ratios, "redis": redis_ratios, "handoff": handoff_figures}[
        args.benchmark
    ]
    ratios: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"A": [], "B": []})
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(before), args.ref], cwd=ROOT, check=True)
        try:
            for round_ in range(args.rounds):
                for side, tree, sources in (("A", before, before / "packages"), ("B", ROOT, None)):
                    script = tree / "benchmarks" / SCRIPTS[args.benchmark]
                    if not script.exists():  # a benchmark newer than A: this tree's script, on A's code
                        script = ROOT / "benchmarks" / SCRIPTS[args.benchmark]
                    for case, value in parse(run(script, sources)).items():
                        ratios[case][side].append(value)
                print(f"round {round_ + 1} of {args.rounds}", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, check=True)
    unit = UNITS[args.benchmark]
    lines = [
        f"# Before and after: bench:{args.benchmark}",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `hatch run bench:compare {args.ref} {args.benchmark} "
        f"--rounds {args.rounds}`; A is {args.ref}, B this tree; medians of {args.rounds} rounds, each a "
        "`--quick` run of A then of B.",
        "",
        f"| case | A ({unit}) | B | B / A |",
        "|---|---:|---:|---:|",
    ]
    for case, sides in ratios.items():
        a, b = statistics.median(sides["A"]), statistics.median(sides["B"])
        lines.append(f"| {case} | {a:.2f} | {b:.2f} | {b / a:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / f"compare_{args.benchmark}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
