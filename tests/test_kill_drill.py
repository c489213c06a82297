"""The kill drill as a test: the real daemon killed with SIGKILL at the first article request, in the
middle of a batch and in the middle of a send, then restarted: no orphan, no article lost, every
alert received, and at most one repeat per kill (the message in flight)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.drills import KILL_POINTS, Drill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_kills_at_the_first_article_mid_batch_and_mid_send_lose_nothing(tmp_path: Path) -> None:
    drill = Drill(tmp_path)
    try:
        for point in KILL_POINTS:
            kill = drill.kill_at(point)
            assert kill.reached, f"the daemon never reached {point}; log:\n{drill.log.read_text()[-3000:]}"
            assert kill.orphans == [], f"processes outlived the daemon killed {point}: {kill.orphans}"
        drill.settle()
        report = drill.report()
    finally:
        drill.close()
    assert report["lost"] == 0 and report["undelivered"] == 0, report
    assert report["duplicates"] <= report["kills"], report  # only messages in flight repeat
    assert report["orphans"] == 0, report
