"""Extraction workers: a worker whose parent is killed exits instead of lingering."""

from __future__ import annotations

import os
import subprocess
import sys
import time

CHILD = """
import os, signal, sys
from crawler.workers import AnalysisPool
pool = AnalysisPool(1)
pool.executor = pool._new_executor()
pid = pool.executor.submit(os.getpid).result()
print(pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_exits_when_its_parent_is_killed() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
        check=False,
    )
    worker = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker), "the worker outlived its killed parent"
