"""The charts are readable at the docs' page width, in a real browser.

The site is built with mkdocs and each page with charts is opened in
headless Chromium at a laptop's window size. For each chart the page shows,
the browser says how wide it is drawn; the PNG says its resolution and its
smallest font (``benchmarks/charts.py`` writes both): the smallest text, as
the reader sees it, must be at least MIN_CSS_PX high. A screenshot of each
page is kept next to the built site for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The smallest text a reader should have to read, in CSS pixels.
MIN_CSS_PX = 9.0
PAGES_WITH_CHARTS = ["benchmarks", "observability"]

MEASURE = """
<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("article img")].map((img) => ({
    src: img.getAttribute("src"), natural: img.naturalWidth, shown: img.getBoundingClientRect().width,
  }));
  const out = document.createElement("pre");
  out.id = "chart-measure";
  out.textContent = JSON.stringify(charts);
  document.body.appendChild(out);
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("RATELIMIT_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (RATELIMIT_REQUIRE_CHROMIUM) and is not on PATH")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    return found


def png_facts(path: Path) -> tuple[int, float | None, float | None]:
    """A PNG's width in pixels, its resolution (dots per inch) and the smallest font it says it uses (pt)."""
    data = path.read_bytes()
    width = struct.unpack(">I", data[16:20])[0]
    dpi = font = None
    at = 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        if kind == b"pHYs":
            per_metre, _, unit = struct.unpack(">IIB", body)
            dpi = per_metre * 0.0254 if unit == 1 else None
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            if key == b"ratelimit-min-font-pt":
                font = float(value)
        at += 12 + size
    return width, dpi, font


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    built = subprocess.run(build, cwd=ROOT, capture_output=True, text=True, check=False, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.mark.parametrize("page", PAGES_WITH_CHARTS)
def test_every_chart_is_readable_at_the_page_width(site: Path, page: str) -> None:
    browser = chromium()
    html = site / page / "index.html"
    measured = html.with_name("measured.html")
    measured.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2400"]
    base += ["--virtual-time-budget=10000", "--hide-scrollbars"]
    dom = subprocess.run(
        [*base, "--dump-dom", measured.as_uri()], capture_output=True, text=True, check=False, timeout=120
    )
    screenshot = site / f"{page}.png"
    subprocess.run([*base, f"--screenshot={screenshot}", html.as_uri()], capture_output=True, check=False, timeout=120)
    match = re.search(r'<pre id="chart-measure">(.*?)</pre>', dom.stdout, re.S)
    assert match, dom.stderr[-2000:]
    charts = [c for c in json.loads(match[1].replace("&quot;", '"')) if c["src"].endswith(".png")]
    assert charts, f"no charts found on {page}"
    for chart in charts:
        png = (html.parent / chart["src"]).resolve()
        width, dpi, font = png_facts(png)
        assert chart["natural"] == width, chart
        assert dpi is not None, f"{png.name}: no resolution"
        assert font is not None, f"{png.name}: says no smallest font (draw it with benchmarks/charts.py)"
        shown_px = font / 72 * dpi * chart["shown"] / width
        assert shown_px >= MIN_CSS_PX, (
            f"{png.name}: its smallest text is {shown_px:.1f} CSS px high at the page's width "
            f"({chart['shown']:.0f} of {width} px); look at {screenshot}"
        )
    assert screenshot.stat().st_size > 0
