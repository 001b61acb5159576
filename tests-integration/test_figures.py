"""Every measured figure in README.md and docs/ comes from benchmarks/results/, so none can go stale.

Figures are marked in the pages (``<!-- fig NAME -->...<!-- /fig -->``) and
written by ``scripts/benchmark_figures.py`` (``hatch run bench:figures``) from the results. These tests fail when a
marked figure differs from the results, and when a page quotes a measurement
outside the marks: a number of µs, ms, ns, a ratio (``3.4x``, ``2 times``), a
percentage or a rate per second. The inputs a page states (a timeout, a
test's scenario, the rate syntax) are listed below with why.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark_figures as figures  # noqa: E402

MEASURE = re.compile(
    r"(?<![\w^.])\d[\d,]*(?:\.\d+)?\s?(?:µs|ms\b|ns\b|x\b|%| times\b| decisions| requests| a second|/s\b)"
)

#: Figures that are inputs, not measurements: (page, the text as printed, why).
INPUTS = {
    ("docs/client.md", "20 requests"): "the test upstream's configured limit",
    ("docs/client.md", "20/s"): "the same upstream's limit",
    ("docs/client.md", "95%"): "the limiter a test gives: 95% of the upstream's rate",
    ("docs/client.md", "90%"): "the bound the cross-process test asserts",
    ("docs/concurrency.md", "5 ms"): "the slot waiters' first poll interval (a constant)",
    ("docs/concurrency.md", "100 ms"): "their longest poll interval (a constant)",
    ("docs/getting-started.md", "10/s"): "rate syntax",
    ("docs/getting-started.md", "250ms"): "rate syntax",
    ("docs/migrating.md", "5 requests"): "what the limit 5/minute means",
    ("docs/migrating.md", "5000ms"): "rate syntax",
    ("docs/observability.md", "4 requests"): "the metrics picture's scenario",
    ("docs/observability.md", "10 a second"): "the metrics picture's scenario",
    ("docs/observability.md", "80 a second"): "the metrics picture's scenario",
    ("docs/observability.md", "100 ms"): "the scenario's store timeout",
    ("docs/redis.md", "20 ms"): "a test's time budget",
    ("docs/redis.md", "100 ms"): "an example of a distant Redis",
    ("docs/redis.md", "100 requests"): "a test's load",
    ("docs/sqlite-store.md", "50 µs"): "the store's first retry delay (a constant)",
    ("docs/sqlite-store.md", "2 ms"): "its longest retry delay (a constant)",
    ("docs/benchmarks.md", "7/s"): "the rate of a benchmark case",
}


def pages() -> list[Path]:
    return figures.PAGES


def prose(text: str) -> str:
    """The page without code blocks and marked figures (line breaks kept, for line numbers)."""
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return figures.FIGURE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def test_every_marked_figure_is_what_the_results_say() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_figures.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout


def test_a_figure_that_differs_from_the_results_is_found() -> None:
    page = "the middleware adds <!-- fig asgi overhead -->0.1 µs<!-- /fig --> per request"
    assert figures.refreshed(page) != page
    assert figures.refreshed(figures.refreshed(page)) == figures.refreshed(page)


def test_an_unknown_figure_is_an_error() -> None:
    with pytest.raises(LookupError, match="no figure named 'asgi speed'"):
        figures.refreshed("<!-- fig asgi speed -->1<!-- /fig -->")


def test_no_page_quotes_a_measurement_by_hand() -> None:
    found = []
    for path in pages():
        name = str(path.relative_to(ROOT))
        text = prose(path.read_text())
        for match in MEASURE.finditer(text):
            if (name, match.group(0)) not in INPUTS:
                found.append(f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)!r}")
    assert not found, "measurements typed by hand (mark them: scripts/benchmark_figures.py):\n" + "\n".join(found)


def test_every_input_listed_is_still_on_its_page() -> None:
    """A stale entry would let a measurement with the same text through."""
    for (name, printed), why in INPUTS.items():
        assert printed in prose((ROOT / name).read_text()), (name, printed, why)


def test_the_middleware_overhead_is_one_figure_everywhere() -> None:
    quoting = [
        "README.md",
        "docs/asgi.md",
        "docs/benchmarks.md",
        "docs/migrating.md",
        "packages/ratelimit-asgi/README.md",
    ]
    for name in quoting:
        assert "<!-- fig asgi overhead -->" in (ROOT / name).read_text(), name
    assert (
        len(
            {
                m["body"]
                for name in quoting
                for m in figures.FIGURE.finditer((ROOT / name).read_text())
                if m["name"] == "asgi overhead"
            }
        )
        == 1
    )
