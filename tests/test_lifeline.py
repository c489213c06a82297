"""No worker outlives the daemon: a process running the real worker pool is SIGKILLed while a worker
is being spawned and once the pool is up, and nothing it started (workers, the resource tracker)
survives. A starting daemon finds the strays an earlier run left."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crawler.lifeline import MARKER, Stray, boot_command, log_stray_workers, stray_message, stray_workers
from crawler.workers import AnalysisPool

ROOT = Path(__file__).resolve().parent.parent
# The moment of the kill: "exec": the worker was just exec'd and is stopped (SIGSTOP) before its
# first statement, then let go once its parent is dead; "spawning": the parent dies while the worker
# starts; "up": the pool has answered a task.
CHILD = """
import os, signal, sys, time
from crawler import lifeline
from crawler.workers import AnalysisPool

moment = sys.argv[1]
launch = lifeline.TiedPopen._launch


def launched(self, process_obj):
    launch(self, process_obj)
    if moment == "exec":
        os.kill(self.pid, signal.SIGSTOP)
    if moment != "up":
        print(self.pid, flush=True)
        time.sleep(60)


lifeline.TiedPopen._launch = launched
pool = AnalysisPool(1)
pool.executor = pool._new_executor()
print(pool.executor.submit(os.getpid).result(), flush=True)
time.sleep(60)
"""


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None for a gone or zombie process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] in ("Z", "X") else fields


def session(sid: int) -> dict[int, str]:
    """Live processes of a session, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) and int(fields[3]) == sid:
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
    return found


def pdeathsig() -> int:
    """The signal this process gets when its parent dies (PR_GET_PDEATHSIG)."""
    value = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)
    return value.value


@pytest.mark.parametrize("moment", ["exec", "spawning", "up"])
def test_nothing_the_pool_started_outlives_a_killed_parent(moment: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its session holds everything it starts
    )
    try:
        worker = int(parent.stdout.readline())
        started = session(parent.pid)
        assert worker in started and any("resource_tracker" in c for c in started.values()), started
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        if moment == "exec":
            os.kill(worker, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while session(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session(parent.pid) == {}, "a worker or the resource tracker outlived its killed parent"
    finally:
        for pid in session(parent.pid):
            os.kill(pid, signal.SIGKILL)
        parent.kill()
        parent.stdout.close()


def test_a_worker_asks_the_kernel_to_die_with_its_parent_and_says_whose_it_is() -> None:
    pool = AnalysisPool(1)
    pool.executor = pool._new_executor()
    try:
        worker = pool.executor.submit(os.getpid).result()
        assert pool.executor.submit(pdeathsig).result() == signal.SIGKILL
        cmdline = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
        assert f"{MARKER}{os.getpid()}".encode() in cmdline
        assert Path(f"/proc/{worker}/comm").read_text().strip() == "veille-worker"
        assert worker not in [s.pid for s in stray_workers()]  # its parent is alive: not a stray
    finally:
        pool.close()


def test_a_worker_spawned_from_another_thread_outlives_that_thread() -> None:
    # The kernel's "parent" is the thread that forked: a worker tied to a thread that ends would be
    # killed with it. Spawned outside the main thread, it keeps only the parent checks.
    pool = AnalysisPool(1)
    pool.executor = pool._new_executor()
    first: list[int] = []
    try:
        spawner = threading.Thread(target=lambda: first.append(pool.executor.submit(os.getpid).result()))
        spawner.start()
        spawner.join()
        assert pool.executor.submit(pdeathsig).result() == 0
        assert pool.executor.submit(os.getpid).result() == first[0]
    finally:
        pool.close()


def test_a_worker_whose_parent_died_before_its_first_statement_exits_at_once() -> None:
    # Started by pid 1 as far as the command line says, but its parent is this test: the parent
    # check exits before multiprocessing reads anything (these pipe numbers do not exist).
    command = boot_command(1, deathsig=True, tracker_fd=999, pipe_handle=998)
    done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    assert (done.returncode, done.stderr) == (0, b"")


def test_a_starting_daemon_names_the_strays_of_an_earlier_run(caplog: pytest.LogCaptureFixture) -> None:
    # A process marked as started by pid 1 whose parent is this test: what a worker of a killed
    # daemon looks like once the kernel gave it another parent.
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "--multiprocessing-fork", f"{MARKER}1"]
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{stray.pid}/cmdline").read_bytes().endswith(f"{MARKER}1\0".encode()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="crawler.lifeline"):
            found = log_stray_workers()
        assert [(s.pid, s.started_by) for s in found] == [(stray.pid, 1)]
        assert f"pids {stray.pid} (" in caplog.text and f"`kill {stray.pid}`" in caplog.text
    finally:
        stray.kill()
        stray.wait()


def test_the_stray_message_says_how_many_how_big_and_what_to_do() -> None:
    assert stray_message([]) is None
    strays = [Stray(4101, 3999, 160 * 1024), Stray(4102, 3999, 150 * 1024)]
    assert stray_message(strays) == (
        "2 stray extraction workers from an earlier run: pids 4101 4102 (310 MB, started by pid 3999, "
        "which is gone) (hint: they do nothing but hold memory; stop them with `kill 4101 4102`)"
    )


def test_the_scan_skips_zombies_live_parents_and_unreadable_entries(tmp_path: Path) -> None:
    def process(pid: int, ppid: int, state: str = "S", marker: str | None = f"{MARKER}3999") -> None:
        entry = tmp_path / str(pid)
        entry.mkdir()
        args = [sys.executable, "-c", "x", "--multiprocessing-fork"] + ([marker] if marker else [])
        (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
        (entry / "stat").write_text(f"{pid} (veille-worker) {state} {ppid} 1 1 0")
        (entry / "status").write_text("Name:\tveille-worker\nVmRSS:\t  163840 kB\n")

    process(10, 1)  # a stray
    process(11, 3999)  # a worker of a live process
    process(12, 1, state="Z")  # dead, not yet reaped
    process(13, 1, marker=None)  # some other program's worker
    (tmp_path / "14").mkdir()  # gone while we looked
    (tmp_path / "self").mkdir()
    assert stray_workers(tmp_path) == [Stray(10, 3999, 163840)]
    assert stray_workers(tmp_path / "absent") == []
