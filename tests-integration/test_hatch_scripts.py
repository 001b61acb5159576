"""Every path a hatch script names exists: a moved test file fails here, not in one environment on CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "hatch.toml").read_text())
PATH = re.compile(r"(?<![\w{}/.-])((?:packages|tests-integration|benchmarks|scripts|docs|examples)/[\w./-]*)")


def script_lines() -> list[str]:
    """Every command line of every environment's scripts."""
    lines: list[str] = []
    for env in CONFIG["envs"].values():
        for command in env.get("scripts", {}).values():
            lines.extend([command] if isinstance(command, str) else command)
    return lines


PATHS = sorted({match for line in script_lines() for match in PATH.findall(line)})


def test_the_scripts_name_paths() -> None:
    assert len(PATHS) > 10, PATHS


@pytest.mark.parametrize("path", PATHS)
def test_named_path_exists(path: str) -> None:
    assert (ROOT / path.rstrip("/")).exists(), f"hatch.toml names {path}, which does not exist"
