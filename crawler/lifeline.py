"""Worker processes that never outlive their parent, and a scan for those an earlier run left behind.

A spawned worker takes a second or more to import what it needs before any code of ours used to run
(the pool's initializer): a daemon killed meanwhile left it alive forever, with its resource tracker.
Here the worker's very first statements, before the interpreter reads the pool's data or imports
anything, ask Linux to kill it when its parent dies (``PR_SET_PDEATHSIG``), then check that the parent
is still the one that started it (it may have died before the ``prctl``). Elsewhere only the check
runs, and the pool's initializer watches the parent from then on. The resource tracker exits by
itself once nothing holds its pipe, that is once the parent and its workers are gone.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import sys
import threading
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
MARKER = "--veille-worker-of="  # on each worker's command line, with the pid that started it
TITLE = "veille-worker"  # the process name that ps and top show
# Runs first in the worker, as `python -c`: stdlib only, since sys.path is not yet the parent's; one
# line, for ps.
BOOT = (
    "import ctypes, os, sys; "
    "linux = {deathsig} and sys.platform.startswith('linux'); "
    "linux and ctypes.CDLL(None).prctl(1, 9, 0, 0, 0); "  # PR_SET_PDEATHSIG, SIGKILL
    "linux and ctypes.CDLL(None).prctl(15, {title!r}, 0, 0, 0); "  # PR_SET_NAME
    "os.getppid() == {parent} or os._exit(0); "  # the parent died before the prctl
    "from multiprocessing.spawn import spawn_main; "
    "spawn_main({arguments})"
)


def boot_command(parent: int, deathsig: bool, **arguments: int) -> list[str]:
    """The command line of a worker started by `parent`, as multiprocessing's spawn builds it but
    for the code that runs first (BOOT) and the marker at the end."""
    from multiprocessing import spawn, util

    code = BOOT.format(
        deathsig=deathsig,
        title=TITLE.encode(),
        parent=parent,
        arguments=", ".join(f"{name}={value!r}" for name, value in arguments.items()),
    )
    executable = os.fsdecode(spawn.get_executable())
    flags = util._args_from_interpreter_flags()
    return [executable, *flags, "-c", code, "--multiprocessing-fork", f"{MARKER}{parent}"]


def tied_context() -> BaseContext:
    """A spawn context whose processes are tied to this one (see the module docstring)."""
    if sys.platform == "win32":  # Windows has no prctl, and its spawn works otherwise
        return multiprocessing.get_context("spawn")
    return _TiedContext()


if sys.platform != "win32":
    from multiprocessing import popen_spawn_posix
    from multiprocessing.context import SpawnContext, SpawnProcess

    class TiedPopen(popen_spawn_posix.Popen):
        """CPython's spawn Popen (popen_spawn_posix.Popen._launch, the same in 3.8 to 3.13) with
        boot_command instead of spawn.get_command_line."""

        def _launch(self, process_obj: Any) -> None:
            from multiprocessing import resource_tracker, spawn, util
            from multiprocessing.context import reduction, set_spawning_popen

            tracker_fd = resource_tracker.getfd()
            self._fds.append(tracker_fd)
            prep_data = spawn.get_preparation_data(process_obj._name)
            fp = io.BytesIO()
            set_spawning_popen(self)
            try:
                reduction.dump(prep_data, fp)
                reduction.dump(process_obj, fp)
            finally:
                set_spawning_popen(None)
            parent_r = child_w = child_r = parent_w = None
            try:
                parent_r, child_w = os.pipe()
                child_r, parent_w = os.pipe()
                # The kernel's "parent" is the thread that forks: only the main thread lives as
                # long as the process. Spawned from another thread, a worker relies on the checks.
                deathsig = threading.current_thread() is threading.main_thread()
                cmd = boot_command(os.getpid(), deathsig, tracker_fd=tracker_fd, pipe_handle=child_r)
                self._fds.extend([child_r, child_w])
                self.pid = util.spawnv_passfds(spawn.get_executable(), cmd, self._fds)
                self.sentinel = parent_r
                with open(parent_w, "wb", closefd=False) as f:
                    f.write(fp.getbuffer())
            finally:
                fds_to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
                self.finalizer = util.Finalize(self, util.close_fds, fds_to_close)
                for fd in (child_r, child_w):
                    if fd is not None:
                        os.close(fd)

    class TiedProcess(SpawnProcess):
        """A spawned process started by TiedPopen."""

        @staticmethod
        def _Popen(process_obj: Any) -> TiedPopen:  # noqa: N802 (multiprocessing's name)
            return TiedPopen(process_obj)

    class _TiedContext(SpawnContext):
        Process = TiedProcess


# -- strays ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stray:
    """A Veille worker whose parent is no longer the process that started it."""

    pid: int
    started_by: int
    rss_kb: int


def stray_workers(proc: Path = Path("/proc")) -> list[Stray]:
    """Veille workers left by a process that died (a worker of a live process is not one); empty
    where there is no /proc."""
    strays = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            started_by = _started_by((entry / "cmdline").read_bytes())
            if started_by is None:
                continue
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            if stat[0] == "Z" or int(stat[1]) == started_by:
                continue
            strays.append(Stray(int(entry.name), started_by, _rss_kb((entry / "status").read_text())))
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return sorted(strays, key=lambda s: s.pid)


def _started_by(cmdline: bytes) -> int | None:
    for argument in cmdline.split(b"\0"):
        if argument.startswith(MARKER.encode()):
            return int(argument[len(MARKER) :])
    return None


def _rss_kb(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stray_message(strays: list[Stray]) -> str | None:
    """One line for the admin about stray workers, or None when there are none."""
    if not strays:
        return None
    pids = " ".join(str(s.pid) for s in strays)
    megabytes = sum(s.rss_kb for s in strays) / 1024
    started_by = ", ".join(sorted({str(s.started_by) for s in strays}))
    return (
        f"{len(strays)} stray extraction worker{'s' if len(strays) > 1 else ''} from an earlier run: "
        f"pids {pids} ({megabytes:.0f} MB, started by pid {started_by}, which is gone) "
        f"(hint: they do nothing but hold memory; stop them with `kill {pids}`)"
    )


def log_stray_workers() -> list[Stray]:
    """Warn about stray workers left by an earlier run (for a starting daemon); returns them."""
    strays = stray_workers()
    message = stray_message(strays)
    if message:
        logger.warning("%s", message)
    return strays
