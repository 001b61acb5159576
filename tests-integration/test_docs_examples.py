"""Every Python example in the docs and READMEs runs as printed, so the docs cannot drift from the code.

A page's ```python blocks run in order, in one namespace, as a reader who
copies them top to bottom would run them: nothing is defined for them
beforehand. Top-level ``await`` is allowed (one event loop per page), and
``redis://localhost:6379/0`` is this test run's Redis server.

A block that is a file of the reader's project (``app.py``, ``conftest.py``,
a test module) is marked right above it with ``<!-- file: name.py -->``: it is
written to that file, not run, and when a page writes test modules, pytest
runs them afterwards, in a process of its own, as the reader would; every
test must pass. A block that cannot run at all is marked
``<!-- fragment: reason -->``; it is still compiled, and the reason must say
something.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("packages/*/README.md")])
BLOCK = re.compile(
    r"(?:<!-- (?:fragment: (?P<fragment>[^>]*?)|file: (?P<file>[\w.]+\.py)) -->\s*\n)?```python\n(?P<code>.*?)```",
    re.S,
)
# A TOML block whose first line is "# <file name>" is written to that file first.
TOML_FILE = re.compile(r"```toml\n# (?P<name>[\w.-]+\.toml)\n(?P<body>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    code: str
    line: int
    fragment: str | None
    file: str | None


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    return [
        Block(m["code"], text.count("\n", 0, m.start("code")) + 1, m["fragment"], m["file"])
        for m in BLOCK.finditer(text)
    ]


PAGES = [path for path in FILES if blocks(path)]


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
def test_page_runs_top_to_bottom(path: Path, redis7_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = path.read_text()
    for match in TOML_FILE.finditer(text):
        (tmp_path / match["name"]).write_text(match["body"])
    namespace: dict[str, object] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in blocks(path):
            code = block.code.replace("redis://localhost:6379/0", redis7_url)
            code = "\n" * (block.line - 1) + code  # a traceback names the page's own line
            where = str(path.relative_to(ROOT))
            compiled = compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
            # dont_inherit: this module's `from __future__ import annotations` must not hide a
            # name an annotation uses and the page never imports.
            if block.file is not None:
                (tmp_path / block.file).write_text(block.code)
                continue
            if block.fragment is not None:
                continue
            result = eval(compiled, namespace)  # noqa: S307 - our own docs
            if asyncio.iscoroutine(result):  # top-level await: run it as a notebook would
                loop.run_until_complete(result)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
    if list(tmp_path.glob("test_*.py")):
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        suite = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
        ran = subprocess.run(suite, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert ran.returncode == 0, ran.stdout[-3000:]
        assert " passed" in ran.stdout.splitlines()[-1], ran.stdout[-3000:]
