"""The README's main job, ``hatch run demo``, runs the quickstart example: it must work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_demo_limits_a_burst_and_recovers() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    burst = [row for row in rows if row[1] == "burst"]
    assert [row[3] for row in burst] == ["True"] * 5 + ["False"] * 3
    assert [row[4] for row in burst[:5]] == ["4", "3", "2", "1", "0"]
    later = [row for row in rows if row[1] == "later"]
    assert [row[3] for row in later][:2] == ["True", "True"], "tokens came back after half a second"
    assert rows[-1][1:3] == ["wait()", "True"]
