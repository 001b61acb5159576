"""docs/sync.md's Celery recipe, run as it is printed by two real worker processes on a real Redis broker.

(The Flask and Django recipes run as printed in test_docs_examples.py.)
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from redis import Redis

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(?P<code>from celery import Celery\n.*?)```", re.S)

#: Appended to the recipe: each admission's window, as the store reports it (its end, on the wall clock).
RECORDER = """
import time as _time
_log = Redis.from_url(BROKER)
_store = partner.store
_hit = _store.hit

def _recorded(policy, key, cost):
    decision = _hit(policy, key, cost)
    if decision.allowed:
        _log.rpush("recipe:windows", "%.3f" % (_time.time() + decision.reset_after))
    return decision

_store.hit = _recorded
"""


def recipe() -> str:
    match = BLOCK.search((ROOT / "docs" / "sync.md").read_text())
    assert match is not None, "docs/sync.md has the Celery recipe"
    ast.parse(match["code"])
    return match["code"]


def test_a_celery_task_runs_exactly_the_limit_per_window_across_two_workers(redis7_url: str, tmp_path: Path) -> None:
    broker = redis7_url.rsplit("/", 1)[0] + "/5"  # a database of its own: the broker's queues and the log
    Redis.from_url(broker).flushdb()
    code = recipe().replace("redis://localhost:6379/0", broker)
    (tmp_path / "jobs.py").write_text(f"BROKER = {broker!r}\n" + code + RECORDER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-m", "celery", "-A", "jobs", "worker", "--pool=solo", "--without-gossip"]
    workers = [
        subprocess.Popen(
            [*command, "--without-mingle", "-n", f"w{n}@%h", "--loglevel=WARNING"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(2)
    ]
    try:
        sys.path.insert(0, str(tmp_path))
        jobs: Any = importlib.import_module("jobs")  # the recipe, as the producer imports it
        results = [jobs.call_partner.delay(job) for job in range(15)]
        assert sorted(result.get(timeout=60) for result in results) == list(range(15))
        log = Redis.from_url(broker)
        ends = sorted(float(end) for end in log.lrange("recipe:windows", 0, -1))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("jobs", None)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    windows: list[list[float]] = []
    for end in ends:  # admissions of one window report one end (to the clock's reading, ms apart)
        if windows and end - windows[-1][0] < 0.5:
            windows[-1].append(end)
        else:
            windows.append([end])
    counts = [len(window) for window in windows]
    assert sum(counts) == 15
    assert counts == [5, 5, 5], f"admissions per 2 s window: {counts}"
