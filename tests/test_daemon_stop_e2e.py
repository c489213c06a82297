"""End to end: stopping the real daemon while a crawl waits on a server that never answers."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.servers import SilentServer
from tests.test_daemon_e2e import Daemon, wait_for

pytestmark = pytest.mark.slow


def test_sigterm_cuts_a_hanging_download_and_the_cut_run_is_no_failure(tmp_path: Path) -> None:
    silent = SilentServer()
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text(
        "timeout: 60\nretries: 2\ndefault_schedule: 30s\nstartup_spread: 1s\n"
        "min_interval: 1s\nallow_private_addresses: true\n",
        "utf-8",
    )
    (config / "sources.yaml").write_text(
        f"sources:\n  - name: hangs\n    languages: [fr]\n    feeds: ['http://127.0.0.1:{silent.port}/feed']\n",
        "utf-8",
    )
    daemon = Daemon(config, tmp_path / "veille.db", tmp_path / "daemon.log", 0).start()
    try:
        wait_for(lambda: silent.accepted, "the crawl to connect to the silent server", timeout=30)
        started = time.monotonic()
        assert daemon.stop(signal.SIGTERM) == 0
        took = time.monotonic() - started
    finally:
        if daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)
        silent.stop()
    log = daemon.log()
    # Without the cut, the daemon waited for the download's 60 s timeout, then retried it.
    assert took < 15, log
    assert "stopped cleanly" in log and "Traceback" not in log and "download(s) in flight" in log
    conn = sqlite3.connect(tmp_path / "veille.db")
    [(status, error)] = conn.execute("SELECT status, error FROM crawl_runs WHERE source = 'hangs'").fetchall()
    [(failures, last_error)] = conn.execute(
        "SELECT consecutive_failures, last_error FROM sources WHERE name = 'hangs'"
    ).fetchall()
    conn.close()
    assert status == "interrupted" and error.startswith("crawl interrupted (shutdown); ")
    assert "download cut: the crawl was stopping" in error
    assert (failures, last_error) == (0, None)  # a shutdown says nothing about the source
