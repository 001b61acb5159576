"""Every Python example in the docs and READMEs runs, so the docs cannot drift from the code.

Each ```python block runs on its own, top-level ``await`` allowed, after a
small prelude that stands in for what a reader already has (an ``app``, a
``store``, a Redis server at ``localhost:6379`` is this test run's server).
A block may be skipped only with a comment right above it saying why:
``<!-- not run: reason -->``.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("packages/*/README.md")])
BLOCK = re.compile(r"(?:<!-- not run: (?P<skip>[^>]+?) -->\s*\n)?```python\n(?P<code>.*?)```", re.S)
# A TOML block whose first line is "# <file name>" is written to that file first.
TOML_FILE = re.compile(r"```toml\n# (?P<name>[\w.-]+\.toml)\n(?P<body>.*?)```", re.S)

PRELUDE = """
import asyncio
from pathlib import Path
from fastapi import FastAPI
from ratelimit_core import Decision, Limiter, MemoryStore, Rate
store = MemoryStore()
limiter = Limiter("100/minute", name="docs")
app = FastAPI()
"""


def examples() -> list[Any]:
    found = []
    for path in FILES:
        text = path.read_text()
        files = {m["name"]: m["body"] for m in TOML_FILE.finditer(text)}
        for n, match in enumerate(BLOCK.finditer(text), start=1):
            marks = [pytest.mark.skip(reason=match["skip"])] if match["skip"] else []
            found.append(pytest.param(match["code"], files, id=f"{path.relative_to(ROOT)}#{n}", marks=marks))
    return found


def test_the_docs_have_examples_and_run_them_all() -> None:
    found = examples()
    assert len(found) >= 20
    assert not [p.id for p in found if p.marks], "every example runs"


@pytest.mark.parametrize(("code", "files"), examples())
def test_example_runs(
    code: str, files: dict[str, str], redis7_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    code = code.replace("redis://localhost:6379/0", redis7_url)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(PRELUDE, "<prelude>", "exec"), namespace)  # noqa: S102 - our own docs
    compiled = compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # noqa: S307 - our own docs
    if asyncio.iscoroutine(result):  # top-level await: run it as a reader's script would
        asyncio.run(result)
