"""Run one page's Python examples top to bottom, as a reader would in a fresh interpreter.

``python docs_pages.py PAGE [REDIS_URL]``, from the folder the page's files
go in. Used by test_docs_examples.py, one process per page, so that no page
sees what another left behind. The markers a block may carry are described
there.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from dataclasses import dataclass
from pathlib import Path

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


def run_page(path: Path, redis_url: str | None, name: str) -> None:
    """Write the page's files here, then run its blocks in one namespace and one event loop."""
    here = Path.cwd()
    sys.path.insert(0, str(here))
    for match in TOML_FILE.finditer(path.read_text()):
        (here / match["name"]).write_text(match["body"])
    namespace: dict[str, object] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in blocks(path):
            code = block.code if redis_url is None else block.code.replace("redis://localhost:6379/0", redis_url)
            code = "\n" * (block.line - 1) + code  # a traceback names the page's own line
            # dont_inherit: this module's `from __future__ import annotations` must not hide a
            # name an annotation uses and the page never imports.
            compiled = compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
            if block.file is not None:
                (here / block.file).write_text(block.code)
                continue
            if block.fragment is not None:
                continue
            result = eval(compiled, namespace)  # noqa: S307 - our own docs
            if asyncio.iscoroutine(result):  # top-level await: run it as a notebook would
                loop.run_until_complete(result)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


if __name__ == "__main__":
    page = Path(sys.argv[1])
    run_page(page, sys.argv[2] if len(sys.argv) > 2 else None, sys.argv[3] if len(sys.argv) > 3 else str(page))
