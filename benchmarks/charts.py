"""PNG charts from the CSV files in benchmarks/results/ (run after the benchmarks).

hatch run bench:charts

Every chart is drawn for the docs' page width: WIDTH inches at DPI, panels
stacked rather than side by side, no text under MIN_FONT_PT. Each PNG says
its smallest font in a text chunk (``ratelimit-min-font-pt``), which the docs'
test reads to check, in a real browser at the page's width, that the
smallest text is readable.
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
#: The page's width in inches at DPI: the docs' column is about 690 CSS pixels wide.
WIDTH, DPI = 7.0, 200
MIN_FONT_PT = 8
plt.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": MIN_FONT_PT,
        "ytick.labelsize": MIN_FONT_PT,
        "legend.fontsize": MIN_FONT_PT,
        "figure.titlesize": 11,
    }
)


def panels(rows_: int, cols: int = 1, row_height: float = 2.0) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure of the page's width with ``rows_`` x ``cols`` panels, in reading order."""
    fig, axes = plt.subplots(rows_, cols, figsize=(WIDTH, 0.6 + row_height * rows_), squeeze=False)
    return fig, [ax for line in axes for ax in line]


def save(fig: plt.Figure, name: str) -> None:
    fig.tight_layout()
    fig.savefig(RESULTS / name, dpi=DPI, metadata={"ratelimit-min-font-pt": str(MIN_FONT_PT)})
    plt.close(fig)


def rows(name: str) -> list[dict[str, str]]:
    with (RESULTS / f"{name}.csv").open() as f:
        return list(csv.DictReader(f))


def number(text: str) -> float:
    return float(text.replace(",", "").replace("+", ""))


def color(library: str) -> str:
    return OURS if library.startswith("ratelimit") else OTHERS


def compact(value: float, _position: object = None) -> str:
    """A tick label short enough that neighbours never touch: 1.2M, 400k, 90."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def bars(ax: plt.Axes, labels: list[str], values: list[float], title: str, unit: str) -> None:
    ax.barh(labels[::-1], values[::-1], color=[color(label) for label in labels[::-1]])
    ax.set_title(title)
    ax.set_xlabel(unit)
    for y, value in enumerate(values[::-1]):
        ax.text(value, y, f" {value:,.0f}" if value >= 10 else f" {value:.2f}", va="center", fontsize=MIN_FONT_PT)
    ax.margins(x=0.45)  # room for the value beside the longest bar
    ax.xaxis.set_major_formatter(compact)
    ax.xaxis.set_major_locator(plt.MaxNLocator(4))


def memory_throughput() -> None:
    data = [r for r in rows("memory") if r["algorithm"] == "token_bucket" and r["case"] != "bytes/key"]
    fig, axes = panels(3)
    for ax, case, title in zip(axes, ["hot", "keys", "deny"], ["one hot key", "10,000 keys", "deny path"], strict=True):
        chosen = [r for r in data if r["case"] == case and r["library"] != "bare async function"]
        bars(ax, [r["library"] for r in chosen], [number(r["decisions/s"]) for r in chosen], title, "decisions/s")
    fig.suptitle("In-memory token bucket: decisions per second (one run, 2 cores)")
    save(fig, "memory_throughput.png")


def by_algorithm() -> None:
    """Every library and algorithm: in memory (one hot key) and on Redis (100 concurrent callers)."""
    memory = [r for r in rows("memory") if r["case"] == "hot" and r["library"] != "bare async function"]
    redis = [r for r in rows("redis") if r.get("case") == "100 concurrent"]
    algorithms = ["token_bucket", "fixed_window", "sliding_window_counter", "sliding_window_log"]
    fig, axes = panels(len(algorithms), 2, row_height=1.9)
    for row, algorithm in enumerate(algorithms):  # a row per algorithm: memory on the left, Redis on the right
        sides = ((memory, "memory"), (redis, "Redis"))
        for ax, (data, where) in zip(axes[2 * row : 2 * row + 2], sides, strict=True):
            chosen = [r for r in data if r["algorithm"] == algorithm]
            bars(
                ax,
                [r["library"] for r in chosen],
                [number(r["decisions/s"]) for r in chosen],
                f"{algorithm.replace('_', ' ')}, {where}",
                "decisions/s",
            )
    fig.suptitle(
        "Decisions per second by algorithm, each library's own version of it\n"
        "(memory: one hot key; Redis: 100 concurrent callers)"
    )
    save(fig, "by_algorithm.png")


def redis_throughput() -> None:
    token_bucket = [r for r in rows("redis") if r.get("case") and r["algorithm"] == "token_bucket"]
    fig, axes = panels(3, row_height=1.6)
    for ax, case in zip(axes, ["sequential", "100 concurrent", "deny x100"], strict=True):
        chosen = [r for r in token_bucket if r.get("case") == case]
        bars(ax, [r["library"] for r in chosen], [number(r["decisions/s"]) for r in chosen], case, "decisions/s")
    fig.suptitle("On Redis (loopback), token bucket: decisions per second")
    save(fig, "redis_throughput.png")


def latency() -> None:
    data = rows("latency")
    groups = [("memory", "sequential"), ("redis", "sequential"), ("redis", "100 concurrent")]
    fig, axes = panels(3, row_height=2.1)
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
            ax.text(a, i + 0.2, f" {a:,.1f}", va="center", fontsize=MIN_FONT_PT)
            ax.text(b, i - 0.2, f" {b:,.1f}", va="center", fontsize=MIN_FONT_PT)
        ax.set_yticks(y, labels)
        if max(p99) / min(p50) > 20:
            ax.set_xscale("log")
            ax.set_xlim(left=min(p50) / 2)
        ax.margins(x=0.35)
        ax.set_title(f"{where}, {case}")
        ax.set_xlabel("µs per decision: p50 (solid), p99 (pale)")
    fig.suptitle("Latency of one decision (token bucket)")
    save(fig, "latency.png")


def memory_per_key() -> None:
    process = [r for r in rows("memory") if r["case"] == "bytes/key" and r["algorithm"] == "token_bucket"]
    process = [r for r in process if number(r["bytes/key"]) > 0]  # pyrate-limiter keeps no per-key state
    redis = [r for r in rows("redis") if r.get("what") == "bytes per client" and r["algorithm"] == "token_bucket"]
    fig, axes = panels(2, row_height=1.7)
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
    save(fig, "memory_per_key.png")


def scaling() -> None:
    keys = rows("scaling_keys")
    callers = rows("scaling_concurrency")
    fig, axes = panels(3, row_height=2.3)
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
    for ax in (axes[0], axes[2]):
        ax.yaxis.set_major_formatter(compact)
    for ax in axes:
        ax.legend()
    fig.suptitle("Scaling (token bucket)")
    save(fig, "scaling.png")


def asgi() -> None:
    data = rows("asgi")
    fig, axes = panels(2, row_height=2.0)
    for ax, case in zip(axes, ["allowed", "denied"], strict=True):
        chosen = [r for r in data if r["case"] == case]
        bars(
            ax, [r["app"] for r in chosen], [number(r["requests/s"]) for r in chosen], f"{case} requests", "requests/s"
        )
    fig.suptitle("Through the middleware: requests per second (raw ASGI calls in process)")
    save(fig, "asgi.png")


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
