"""PNG charts from the CSV files in benchmarks/results/ (run after the benchmarks).

hatch run bench:charts
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"
DOCS_IMAGES = Path(__file__).parent.parent / "docs" / "img"  # the same charts, for the docs site
OURS = "#1f77b4"
OTHERS = "#b0b0b0"


def rows(name: str) -> list[dict[str, str]]:
    with (RESULTS / f"{name}.csv").open() as f:
        return list(csv.DictReader(f))


def number(text: str) -> float:
    return float(text.replace(",", "").replace("+", ""))


def color(library: str) -> str:
    return OURS if library.startswith("ratelimit") else OTHERS


def bars(ax: plt.Axes, labels: list[str], values: list[float], title: str, unit: str) -> None:
    ax.barh(labels[::-1], values[::-1], color=[color(label) for label in labels[::-1]])
    ax.set_title(title)
    ax.set_xlabel(unit)
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:,.0f}" if value >= 10 else f" {value:.2f}", va="center", fontsize=8)
    ax.margins(x=0.2)


def memory_throughput() -> None:
    data = [r for r in rows("memory") if r["algorithm"] == "token_bucket" and r["case"] != "bytes/key"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    for ax, case, title in zip(axes, ["hot", "keys", "deny"], ["one hot key", "10,000 keys", "deny path"], strict=True):
        chosen = [r for r in data if r["case"] == case and r["library"] != "bare async function"]
        bars(ax, [r["library"] for r in chosen], [number(r["decisions/s"]) for r in chosen], title, "decisions/s")
    fig.suptitle("In-memory token bucket: decisions per second (one run, 2 cores)")
    fig.tight_layout()
    fig.savefig(RESULTS / "memory_throughput.png", dpi=110)
    plt.close(fig)


def by_algorithm() -> None:
    """Every library and algorithm: in memory (one hot key) and on Redis (100 concurrent callers)."""
    memory = [r for r in rows("memory") if r["case"] == "hot" and r["library"] != "bare async function"]
    redis = [r for r in rows("redis") if r.get("case") == "100 concurrent"]
    algorithms = ["token_bucket", "fixed_window", "sliding_window_counter", "sliding_window_log"]
    fig, axes = plt.subplots(2, 4, figsize=(19, 6.6))
    for row, (data, where) in enumerate(((memory, "in memory, one hot key"), (redis, "Redis, 100 callers"))):
        for ax, algorithm in zip(axes[row], algorithms, strict=True):
            chosen = [r for r in data if r["algorithm"] == algorithm]
            bars(
                ax,
                [r["library"] for r in chosen],
                [number(r["decisions/s"]) for r in chosen],
                f"{algorithm} ({where})",
                "decisions/s",
            )
    fig.suptitle("Decisions per second by algorithm (each library's own version of it)")
    fig.tight_layout()
    fig.savefig(RESULTS / "by_algorithm.png", dpi=110)
    plt.close(fig)


def redis_throughput() -> None:
    token_bucket = [r for r in rows("redis") if r.get("case") and r["algorithm"] == "token_bucket"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3))
    for ax, case in zip(axes, ["sequential", "100 concurrent", "deny x100"], strict=True):
        chosen = [r for r in token_bucket if r.get("case") == case]
        bars(ax, [r["library"] for r in chosen], [number(r["decisions/s"]) for r in chosen], case, "decisions/s")
    fig.suptitle("On Redis (loopback), token bucket: decisions per second")
    fig.tight_layout()
    fig.savefig(RESULTS / "redis_throughput.png", dpi=110)
    plt.close(fig)


def latency() -> None:
    data = rows("latency")
    groups = [("memory", "sequential"), ("redis", "sequential"), ("redis", "100 concurrent")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.4))
    for ax, (where, case) in zip(axes, groups, strict=True):
        chosen = [r for r in data if r["where"] == where and r["case"] == case][::-1]
        labels = [r["library"] for r in chosen]
        p50 = [number(r["p50 µs"]) for r in chosen]
        p99 = [number(r["p99 µs"]) for r in chosen]
        y = list(range(len(labels)))
        colors = [color(label) for label in labels]
        ax.barh([i + 0.2 for i in y], p50, height=0.4, color=colors)
        ax.barh([i - 0.2 for i in y], p99, height=0.4, color=colors, alpha=0.45)
        for i, (a, b) in enumerate(zip(p50, p99, strict=True)):
            ax.text(a, i + 0.2, f" {a:,.1f}", va="center", fontsize=7)
            ax.text(b, i - 0.2, f" {b:,.1f}", va="center", fontsize=7)
        ax.set_yticks(y, labels)
        if max(p99) / min(p50) > 20:
            ax.set_xscale("log")
            ax.set_xlim(left=min(p50) / 2)
        ax.margins(x=0.25)
        ax.set_title(f"{where}, {case}")
        ax.set_xlabel("µs per decision: p50 (solid), p99 (pale)")
    fig.suptitle("Latency of one decision (token bucket)")
    fig.tight_layout()
    fig.savefig(RESULTS / "latency.png", dpi=110)
    plt.close(fig)


def memory_per_key() -> None:
    process = [r for r in rows("memory") if r["case"] == "bytes/key" and r["algorithm"] == "token_bucket"]
    process = [r for r in process if number(r["bytes/key"]) > 0]  # pyrate-limiter keeps no per-key state
    redis = [r for r in rows("redis") if r.get("what") == "bytes per client" and r["algorithm"] == "token_bucket"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    bars(
        axes[0],
        [r["library"] for r in process],
        [number(r["bytes/key"]) for r in process],
        "in process (token bucket)",
        "bytes per tracked key",
    )
    bars(
        axes[1],
        [r["library"] for r in redis],
        [number(r["bytes"]) for r in redis],
        "in Redis (token bucket)",
        "bytes per client",
    )
    fig.suptitle("Memory per tracked client")
    fig.tight_layout()
    fig.savefig(RESULTS / "memory_per_key.png", dpi=110)
    plt.close(fig)


def scaling() -> None:
    keys = rows("scaling_keys")
    callers = rows("scaling_concurrency")
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.4))
    for library in sorted({r["library"] for r in keys}):
        mine = [r for r in keys if r["library"] == library]
        x = [int(r["keys"]) for r in mine]
        axes[0].plot(x, [number(r["decisions/s"]) for r in mine], marker="o", color=color(library), label=library)
        axes[1].plot(x, [number(r["MB held"]) for r in mine], marker="o", color=color(library), label=library)
    for library in sorted({r["library"] for r in callers}):
        mine = [r for r in callers if r["library"] == library]
        axes[2].plot(
            [int(r["callers"]) for r in mine],
            [number(r["decisions/s"]) for r in mine],
            marker="o",
            color=color(library),
            label=library,
        )
    axes[0].set(xscale="log", title="in memory: decisions/s", xlabel="distinct keys")
    axes[1].set(xscale="log", yscale="log", title="in memory: MB held (bounded by max_keys)", xlabel="distinct keys")
    axes[2].set(xscale="log", title="on Redis: decisions/s", xlabel="concurrent callers")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle("Scaling (token bucket)")
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png", dpi=110)
    plt.close(fig)


def asgi() -> None:
    data = rows("asgi")
    fig, axes = plt.subplots(1, 2, figsize=(12, 3))
    for ax, case in zip(axes, ["allowed", "denied"], strict=True):
        chosen = [r for r in data if r["case"] == case]
        bars(
            ax, [r["app"] for r in chosen], [number(r["requests/s"]) for r in chosen], f"{case} requests", "requests/s"
        )
    fig.suptitle("Through the middleware: requests per second (raw ASGI calls in process)")
    fig.tight_layout()
    fig.savefig(RESULTS / "asgi.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="do nothing: quick runs write no results")
    if parser.parse_args().quick:
        print("charts: skipped (quick runs write no results to chart)")
        return
    for chart in (memory_throughput, by_algorithm, redis_throughput, latency, memory_per_key, scaling, asgi):
        chart()
    DOCS_IMAGES.mkdir(exist_ok=True)
    for png in RESULTS.glob("*.png"):
        (DOCS_IMAGES / png.name).write_bytes(png.read_bytes())
    print(f"charts written to {RESULTS} and {DOCS_IMAGES}")


if __name__ == "__main__":
    main()
