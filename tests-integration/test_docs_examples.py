"""Every Python example in the docs and READMEs runs as printed, so the docs cannot drift from the code.

A page's ```python blocks run in order, in one namespace, in a Python process
of their own (``docs_pages.py``), as a reader who copies them top to bottom
would run them: nothing is defined for them beforehand, and nothing another
page made is alive. Top-level ``await`` is allowed (one event loop per page),
and ``redis://localhost:6379/0`` is this test run's Redis server.

A block that is a file of the reader's project (``app.py``, ``conftest.py``,
a test module) is marked right above it with ``<!-- file: name.py -->``: it is
written to that file, not run, and when a page writes test modules, pytest
runs them afterwards, in a process of its own, as the reader would; every
test must pass. A block that cannot run at all is marked
``<!-- fragment: reason -->``; it is still compiled, and the reason must say
something.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from docs_pages import blocks

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("packages/*/README.md")])
PAGES = [path for path in FILES if blocks(path)]
RUNNER = Path(__file__).with_name("docs_pages.py")


def test_the_docs_have_examples_and_run_nearly_all() -> None:
    found = [block for path in FILES for block in blocks(path)]
    fragments = [block for block in found if block.fragment is not None]
    assert len(found) >= 60
    assert all(block.fragment and len(block.fragment.split()) >= 3 for block in fragments), "say why"
    assert len(fragments) <= len(found) // 10, "a fragment is the exception"


@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_uses_no_name_it_never_defines(path: Path, tmp_path: Path) -> None:
    """Running catches what runs; this catches a name inside a function no example calls."""
    lines: list[str] = []
    for block in blocks(path):
        if block.fragment is None and block.file is None:
            lines += [""] * (block.line - 1 - len(lines)) + block.code.splitlines()
    script = tmp_path / "page.py"
    script.write_text("\n".join(lines) + "\n")
    ruff = [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821", "--output-format", "concise"]
    found = subprocess.run([*ruff, str(script)], capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stdout.replace(str(script), str(path.relative_to(ROOT)))


@pytest.mark.parametrize("path", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_runs_top_to_bottom(path: Path, redis7_url: str, tmp_path: Path) -> None:
    # A reader's shell: no test is running (limits_off() warns there, as documented).
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    page = [sys.executable, str(RUNNER), str(path), redis7_url, str(path.relative_to(ROOT))]
    ran = subprocess.run(page, cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert ran.returncode == 0, ran.stderr[-4000:]
    if list(tmp_path.glob("test_*.py")):
        suite = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
        ran = subprocess.run(suite, cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300)
        assert ran.returncode == 0, ran.stdout[-3000:]
        assert " passed" in ran.stdout.splitlines()[-1], ran.stdout[-3000:]
