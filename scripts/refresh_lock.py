"""Write the development lock: every pinned version the development environments install.

``hatch run lock:refresh`` runs it. It reads what hatch.toml's environments ask
for and what the packages declare, and resolves it all at once with ``uv pip
compile`` into:

* ``lock/dev.txt``: every environment but ``newest`` installs under it (uv's
  ``UV_CONSTRAINT``, and ``UV_BUILD_CONSTRAINT`` for the build backend), so a
  release elsewhere never changes what CI runs;
* ``lock/oldest.txt``: the same, with redis-py at the floor the Redis package
  declares (the ``oldest`` environment);
* ``lock/hatch.txt``: hatch itself, which ``.ci/run`` installs first.

Nothing is upgraded unless asked: pins already in ``lock/dev.txt`` are kept
where they still satisfy the inputs (``--upgrade`` takes the newest of
everything; ``--upgrade-package NAME`` one package). ``hatch run newest``
tries the newest releases without touching the lock.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "lock"
PYTHON = "3.11"
#: hatch, for .ci/run: the version every command in the README was tried with.
HATCH = "hatch==1.18.2"
#: The build backend of the packages (their [build-system]), built in isolation while installing editable.
BUILD = "hatchling>=1.26"
#: Environments that do not install from the lock.
UNLOCKED = {"newest", "lock"}


def environment_requirements(config: dict[str, Any]) -> list[str]:
    """What every locked environment asks for, templates followed (``dependencies`` + ``extra-dependencies``)."""
    envs = config["envs"]
    wanted: list[str] = []
    for name, env in envs.items():
        if name in UNLOCKED or name == "oldest":
            continue
        chain = env
        while "dependencies" not in chain and "template" in chain:
            chain = envs[chain["template"]]
        wanted += chain.get("dependencies", [])
        wanted += env.get("extra-dependencies", [])
    return wanted


def package_requirements() -> list[str]:
    """What the packages depend on (their extras included), siblings left out: they are installed editable."""
    wanted: list[str] = []
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        wanted += project.get("dependencies", [])
        for extra in project.get("optional-dependencies", {}).values():
            wanted += extra
    return [req for req in wanted if not req.startswith("ratelimit-")]


def compile_lock(requirements: list[str], output: Path, extra: list[str]) -> None:
    """``uv pip compile`` of ``requirements`` into ``output``."""
    uv = os.environ.get("HATCH_UV") or "uv"
    with tempfile.NamedTemporaryFile("w", suffix=".in", delete=False) as inputs:
        inputs.write("\n".join(sorted(set(requirements), key=str.lower)) + "\n")
    command = [
        uv,
        "pip",
        "compile",
        inputs.name,
        "--python-version",
        PYTHON,
        "--output-file",
        str(output),
        "--no-header",
        "--no-annotate",
        "--quiet",
        *extra,
    ]
    try:
        subprocess.run(command, check=True)  # noqa: S603 - uv, with arguments of our own
    finally:
        os.unlink(inputs.name)
    body = output.read_text()
    header = (
        f"# {output.relative_to(ROOT)}: written by `hatch run lock:refresh` (scripts/refresh_lock.py); do not edit.\n"
        f"# Python {PYTHON}. What it pins is what the development environments install.\n"
    )
    output.write_text(header + body)


def without(lock: Path, names: set[str]) -> str:
    """``lock``'s pins but those of ``names``."""
    kept = []
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if match and match[1].lower().replace("_", "-") in names:
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="take the newest release of everything")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    LOCK.mkdir(exist_ok=True)
    config = tomllib.loads((ROOT / "hatch.toml").read_text())
    upgrade = ["--upgrade"] if args.upgrade else [f"--upgrade-package={name}" for name in args.upgrade_package]
    dev = LOCK / "dev.txt"
    compile_lock([*environment_requirements(config), *package_requirements(), BUILD], dev, upgrade)
    # The oldest environment: the same pins, but its floors (redis-py's) and what they need.
    envs = config["envs"]
    floors = envs["oldest"]["extra-dependencies"]
    names = {re.split(r"[=<>!~\[ ;]", req)[0].lower() for req in floors}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        pins.write(without(dev, names))
    try:
        inputs = [*environment_requirements({"envs": {"integration": envs["integration"]}}), *floors]
        compile_lock([*inputs, *package_requirements(), BUILD], LOCK / "oldest.txt", ["--constraint", pins.name])
    finally:
        os.unlink(pins.name)
    compile_lock([HATCH], LOCK / "hatch.txt", upgrade)
    print(f"wrote {', '.join(str(p.relative_to(ROOT)) for p in sorted(LOCK.glob('*.txt')))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
