"""Real HTTP with wrk: a bare FastAPI app against the same app behind each limiter, under uvicorn, in one run.

Run from the repository root (needs ``wrk`` and ``redis-server`` on PATH;
Debian: ``apt-get install wrk redis-server``; it starts its own Redis on a free
loopback port)::

    hatch run bench:http            # full run, writes benchmarks/results/http.md and http.csv
    hatch run bench:http --quick    # a quick look, nothing written

Apps (``http_apps.py``): ``bare`` FastAPI with one JSON route; this project's
middleware on memory and on Redis (the store's defaults); slowapi's ASGI
middleware on Redis; the seed's middleware on Redis. Each runs under uvicorn
with 1 and with 2 workers (``serve_workers.py``: uvicorn's own supervisor, on
a socket with ``TCP_NODELAY``), and wrk (2 threads, 100 connections) drives it:

* ``allowed``: a limit no run reaches, so every request is admitted;
* ``denied``: a limit of 1 per hour, so all but the first request are refused (429).

Figures are requests per second and wrk's p50 and p99 latency, with the ratio
of requests per second to the bare app's (admitted) under the same number of
workers. On 2 cores, uvicorn, wrk and Redis share the machine: with 2 workers
it is saturated and every ratio is pulled towards 1. Read the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from redis_decisions import save, start_server, table

HERE = Path(__file__).parent
APPS = ["bare", "ours-memory", "ours-redis", "slowapi-redis", "seed-redis"]
LABELS = {
    "bare": "bare FastAPI",
    "ours-memory": "ratelimit-asgi, memory",
    "ours-redis": "ratelimit-asgi, Redis",
    "slowapi-redis": "slowapi, Redis",
    "seed-redis": "async-ratelimit (seed), Redis",
}
CASES = {"allowed": "1000000000/hour", "denied": "1/hour"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(app: str, limit: str, workers: int, redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "BENCH_APP": app, "BENCH_LIMIT": limit, "BENCH_REDIS_URL": redis_url}
    process = subprocess.Popen([sys.executable, str(HERE / "serve_workers.py"), str(port), str(workers)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1"):
                    time.sleep(1.0 if workers > 1 else 0.2)  # the other workers start too
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"uvicorn did not start {app}")


def wrk(port: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c100", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rate": rate,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "refused": (int(refused.group(1)) if refused else 0) / max(1, total),
    }


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measured(
    runs: list[tuple[int, str, str]], seconds: int, repeat: int
) -> dict[tuple[int, str, str], dict[str, float]]:
    """The best wrk figures of each run (workers, case, app), over ``repeat`` interleaved rounds."""
    best: dict[tuple[int, str, str], dict[str, float]] = {}
    server, url, folder = start_server()
    try:
        for _ in range(repeat):
            for workers, case, app in runs:
                process, port = serve(app, CASES[case], workers, url)
                try:
                    figures = wrk(port, seconds)
                finally:
                    process.terminate()
                    process.wait(timeout=20)
                print(f"{workers} {case:8} {app:14} {figures['rate']:10,.0f}/s", file=sys.stderr)
                key = (workers, case, app)
                if key not in best or figures["rate"] > best[key]["rate"]:
                    best[key] = figures
    finally:
        server.kill()
        server.wait()
        folder.cleanup()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per run, once; writes nothing")
    parser.add_argument("--repeat", type=int, default=None, help="rounds, interleaved; the best run counts")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (Debian: apt-get install wrk)")
    seconds = 2 if args.quick else 8
    repeat = args.repeat or (1 if args.quick else 2)
    runs = [
        (workers, case, app)
        for workers in (1, 2)
        for case in CASES
        for app in APPS
        if not (app == "bare" and case == "denied")
    ]
    best = measured(runs, seconds, repeat)
    rows: list[dict[str, str]] = []
    for workers, case, app in runs:
        figures, bare = best[(workers, case, app)], best[(workers, "allowed", "bare")]
        rows.append(
            {
                "workers": str(workers),
                "case": case,
                "app": LABELS[app],
                "requests/s": f"{figures['rate']:,.0f}",
                "x bare": f"{figures['rate'] / bare['rate']:.2f}",
                "p50 ms": f"{figures['p50']:.2f}",
                "p99 ms": f"{figures['p99']:.2f}",
                "refused": f"{figures['refused']:.1%}",
            }
        )
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[2]
    versions = ", ".join(
        f"{d} {version(d)}"
        for d in ("ratelimit-asgi", "ratelimit-redis", "async-ratelimit", "slowapi", "fastapi", "uvicorn", "redis")
    )
    columns = ["workers", "case", "app", "requests/s", "x bare", "p50 ms", "p99 ms", "refused"]
    report = (
        f"# Real HTTP (wrk)\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"Redis {redis_version} on loopback; {platform.machine()}, 2 cores shared by wrk, uvicorn and Redis; "
        f"wrk -t2 -c100 -d{seconds}s, best of {repeat}.\n\n{versions}.\n\n" + table(rows, columns) + "\n"
    )
    print(report)
    if not args.quick:
        save("http", report, rows, columns)


if __name__ == "__main__":
    main()
