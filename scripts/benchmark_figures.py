"""Write the figures README.md and docs/ quote from benchmarks/results/, so that none is typed by hand.

A page marks each figure it quotes::

    the middleware adds <!-- fig asgi overhead -->3.4 µs<!-- /fig --> to a request

and this script rewrites what is between the marks from the results. The
kinds of figure:

* ``table FILE N``: the N-th table of ``benchmarks/results/FILE``, as it is;
* ``pivot memory ALGORITHM``, ``pivot redis ALGORITHM``: decisions per second
  by library (rows) and case (columns), each with its ratio to the seed;
* a named value (``asgi overhead``, ``redis concurrent``...): see ``VALUES``.

``hatch run bench:figures`` (``python scripts/benchmark_figures.py``) rewrites the pages; ``--check`` changes
nothing and fails, naming each figure, when a page is not what the results
say (the docs' tests run it). Run it after a benchmark writes new results.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("packages/*/README.md")])
FIGURE = re.compile(r"<!-- fig (?P<name>[^>]+?) -->(?P<body>.*?)<!-- /fig -->", re.S)

Table = list[list[str]]


@cache
def tables(name: str) -> list[Table]:
    """The Markdown tables of a results file: each a list of rows of cells, the header first."""
    found: list[Table] = []
    current: Table = []
    for line in (RESULTS / name).read_text().splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-:") for cell in cells):  # not the alignment row
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


@cache
def rows(name: str) -> list[dict[str, str]]:
    with (RESULTS / name).open(newline="") as file:
        return list(csv.DictReader(file))


def row(name: str, **where: str) -> dict[str, str]:
    """The one row of a results CSV whose columns have these values."""
    found = [r for r in rows(name) if all(r[column] == value for column, value in where.items())]
    if len(found) != 1:
        raise LookupError(f"{name}: {len(found)} rows where {where}")
    return found[0]


def markdown(table: Table, align: str) -> str:
    """A table in Markdown: the first column left-aligned, ``align`` for the others."""
    header, *body = table
    lines = ["| " + " | ".join(header) + " |", "|---|" + "|".join([align] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


# -- the kinds of figure -----------------------------------------------------------------

MEMORY_CASES = {"hot": "hot key", "hot x100": "hot key, 100 callers", "keys": "10,000 keys", "deny": "deny path"}
REDIS_CASES = {c: c for c in ("sequential", "100 concurrent", "hot key x100", "10,000 keys x100", "deny x100")}
SEED = "async-ratelimit (seed)"


def pivot(source: str, algorithm: str) -> str:
    """Decisions per second by library and case, with the ratio to the seed where it has the algorithm."""
    cases = MEMORY_CASES if source == "memory" else REDIS_CASES
    measured = [r for r in rows(f"{source}.csv") if r["algorithm"] == algorithm and r["case"] in cases]
    libraries = list(dict.fromkeys(r["library"] for r in measured))
    seeded = any(r["library"] == SEED for r in measured)
    bytes_per_key = {}
    if source == "memory":
        bytes_per_key = {cells[1]: cells[2] for cells in tables("memory.md")[-1][1:] if cells[0] == algorithm}
    table: Table = [["library", *cases.values(), *(["bytes/key"] if bytes_per_key else [])]]
    for library in libraries:
        cells = [library]
        for case in cases:
            r = next((r for r in measured if r["library"] == library and r["case"] == case), None)
            if r is None:
                cells.append("")
            else:
                cells.append(f"{r['decisions/s']} ({r['x seed']}x)" if seeded else r["decisions/s"])
        if bytes_per_key:
            cells.append(bytes_per_key.get(library, ""))
        table.append(cells)
    return markdown(table, "---:")


def results_table(name: str, n: str) -> str:
    return markdown(tables(name)[int(n) - 1], "---:")


def _asgi(case: str, column: str, app: str = "ratelimit-asgi") -> str:
    return row("asgi.csv", app=app, case=case)[column]


def _redis(case: str, column: str) -> str:
    return row("redis.csv", algorithm="token_bucket", case=case, library="ratelimit")[column]


def _http(app: str, workers: str = "1") -> str:
    return row("http.csv", workers=workers, case="allowed", app=app)["x bare"]


def _sqlite(store: str, processes: str, column: str) -> str:
    return row("sqlite.csv", store=store, processes=processes)[column]


SHM = "ratelimit SqliteStore, /dev/shm"
DISK = "ratelimit SqliteStore, disk"
LOOPBACK = "ratelimit RedisStore, loopback"
MEMORY = "ratelimit MemoryStore (not shared)"

#: The named values a page may quote, each with what it is.
VALUES: dict[str, Callable[[], str]] = {
    # Through the middleware, in process (bench:asgi): a JSON app, admitted.
    "asgi overhead": lambda: _asgi("allowed, JSON", "µs over bare").lstrip("+") + " µs",
    "asgi rps": lambda: _asgi("allowed, JSON", "requests/s"),
    "asgi vs slowapi": lambda: _asgi("allowed, JSON", "x slowapi") + "x",
    "asgi denied": lambda: _asgi("denied", "µs/request") + " µs",
    "asgi x bare": lambda: _asgi("allowed, JSON", "x bare time") + "x",
    "asgi seed overhead": lambda: _asgi("allowed, JSON", "µs over bare", app=SEED).lstrip("+") + " µs",
    "asgi sketch overhead": lambda: _asgi("allowed, JSON", "µs over bare", app="inline sketch (floor)").lstrip("+")
    + " µs ("
    + _asgi("allowed, JSON", "x bare time", app="inline sketch (floor)")
    + "x its time)",
    "asgi bare": lambda: _asgi("allowed, JSON", "µs/request", app="bare Starlette") + " µs",
    # Real HTTP (bench:http): requests per second against the bare app's, one uvicorn worker.
    "http redis": lambda: _http("ratelimit-asgi, Redis") + "x",
    "http slowapi redis": lambda: _http("slowapi, Redis") + "x",
    "http seed": lambda: _http("async-ratelimit (seed), Redis") + "x",
    "http redis 2 workers": lambda: _http("ratelimit-asgi, Redis", workers="2") + "x",
    # Memory (bench:memory), token bucket, hot key.
    "memory hot": lambda: row("memory.csv", algorithm="token_bucket", case="hot", library="ratelimit")["decisions/s"],
    "memory hot us": lambda: row("memory.csv", algorithm="token_bucket", case="hot", library="ratelimit")["µs/decision"]
    + " µs",
    "memory hot x seed": lambda: row("memory.csv", algorithm="token_bucket", case="hot", library="ratelimit")["x seed"]
    + "x",
    "memory fixed hot x seed": lambda: row("memory.csv", algorithm="fixed_window", case="hot", library="ratelimit")[
        "x seed"
    ]
    + "x",
    # Redis (bench:redis), token bucket.
    "redis bytes per client": lambda: next(
        cells[3].removesuffix(".0")
        for cells in tables("redis.md")[-1][1:]
        if cells[:3] == ["token_bucket", "ratelimit", "bytes per client"]
    ),
    "redis concurrent": lambda: _redis("100 concurrent", "decisions/s"),
    "redis concurrent x seed": lambda: _redis("100 concurrent", "x seed") + "x",
    "redis seed concurrent": lambda: row("redis.csv", algorithm="token_bucket", case="100 concurrent", library=SEED)[
        "decisions/s"
    ],
    "redis sequential": lambda: _redis("sequential", "decisions/s"),
    "redis sequential x seed": lambda: _redis("sequential", "x seed") + "x",
    # SqliteStore (bench:sqlite).
    "sqlite p50": lambda: _sqlite(SHM, "4", "p50 µs") + " µs",
    "sqlite p99": lambda: _sqlite(SHM, "4", "p99 µs") + " µs",
    "sqlite x redis": lambda: _sqlite(SHM, "1", "x RedisStore, 1 process") + " times",
    "sqlite max": lambda: f"{int(_sqlite(SHM, '4', 'max µs')) / 1e6:.1f} s",
    "sqlite disk p99": lambda: _sqlite(DISK, "4", "p99 µs") + " µs",
    "sqlite 1 process": lambda: _sqlite(SHM, "1", "decisions/s"),
    "sqlite 4 processes": lambda: _sqlite(SHM, "4", "decisions/s"),
    "sqlite disk 4 processes": lambda: _sqlite(DISK, "4", "decisions/s"),
    "memory store 1 process": lambda: _sqlite(MEMORY, "1", "decisions/s"),
    "memory store p50": lambda: _sqlite(MEMORY, "1", "p50 µs") + " µs",
    "sqlite disk 1 process": lambda: _sqlite(DISK, "1", "decisions/s"),
    "redis store 1 process": lambda: _sqlite(LOOPBACK, "1", "decisions/s"),
    "redis store 1 process p50": lambda: _sqlite(LOOPBACK, "1", "p50 µs") + " µs",
    "redis store 4 processes": lambda: _sqlite(LOOPBACK, "4", "decisions/s"),
    "redis store p50": lambda: _sqlite(LOOPBACK, "4", "p50 µs") + " µs",
    "redis store p99": lambda: _sqlite(LOOPBACK, "4", "p99 µs") + " µs",
}


def _slot(store: str, case: str, callers: str, column: str) -> str:
    return row("concurrency.csv", store=store, case=case, callers=callers)[column]


def _observer(case: str, observer: str) -> str:
    return row("observers.csv", case=case, observer=observer)["added µs"] + " µs"


VALUES.update(
    {
        # Concurrency slots (bench:concurrency).
        "slot redis sequential": lambda: _slot(
            "RedisStore (loopback)", "acquire + release", "sequential", "x hit's time"
        )
        + " times",
        "slot redis x100": lambda: _slot("RedisStore (loopback)", "acquire + release", "x100", "x hit's time")
        + " times",
        "renew redis": lambda: _slot("RedisStore (loopback)", "renew", "sequential", "x hit's time") + " times",
        "slot memory": lambda: _slot("MemoryStore", "acquire + release", "sequential", "µs each") + " µs",
        "hit memory": lambda: _slot("MemoryStore", "hit", "sequential", "µs each") + " µs",
        # What observing adds (bench:observers).
        "prometheus hit": lambda: _observer("memory hit", "Prometheus"),
        "prometheus request": lambda: _observer("ASGI request", "Prometheus"),
        "otel hit": lambda: _observer("memory hit", "OpenTelemetry"),
    }
)


def figure(name: str) -> str:
    """The text of the figure ``name`` (a kind and its arguments, or a named value)."""
    kind, *args = name.split()
    if kind == "table" and len(args) == 2:
        return "\n" + results_table(*args) + "\n"
    if kind == "pivot" and len(args) == 2:
        return "\n" + pivot(*args) + "\n"
    if name in VALUES:
        return VALUES[name]()
    raise LookupError(f"no figure named {name!r}")


def refreshed(text: str) -> str:
    return FIGURE.sub(lambda m: f"<!-- fig {m['name']} -->{figure(m['name'])}<!-- /fig -->", text)


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = refreshed(text)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if not check:
                page.write_text(new)
    if check and stale:
        print(f"figures that differ from benchmarks/results/ in: {', '.join(map(str, stale))}")
        print("run: hatch run bench:figures")
        return 1
    print(("stale: " if check else "rewrote: ") + (", ".join(map(str, stale)) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
