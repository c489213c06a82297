"""Fault drills against the real daemon: SIGKILLs at chosen moments, and a long run's memory and files.

Why: the promises of the README's "Reliability and security" section (nothing lost, nothing sent
twice but the message in flight, no process outliving the daemon, no leak) only show over many
kills and a long run; tests/test_kill_drill.py runs three kills, this runs a hundred.

How (tests/drills.py does the work): a news site on 127.0.0.1 keeps publishing articles that all
match the drill's topic; one webhook watcher receives every alert on a real receiver. `veille run`
is started as a child process, and:

  kills   --kills times: publish --per-kill articles, start the daemon, SIGKILL it at the next kill
          point (in turn: the first article request, mid-batch, mid-send with the receiver holding
          the request), and count the daemon's processes still alive 5 s later (orphans). Then one
          last run until every article is archived and every alert received. Printed: kills,
          articles published and lost, alerts received, duplicates (receipts beyond the first of a
          delivery id: at most one per mid-send kill), orphans.
  soak    --minutes of one daemon, an article published every --publish-every seconds; every minute
          the RSS and open file descriptors of all the daemon's processes are sampled. Printed: the
          samples, then the slopes (MB and descriptors per hour, least squares) and the range.

Usage: python bench/drills.py [--kills 100] [--per-kill 10] [--minutes 60] [--publish-every 30]
       (a quick run: --kills 9 --minutes 3)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.drills import KILL_POINTS, Drill, marked, wait


def run_kills(kills: int, per_kill: int) -> dict[str, int]:
    """The kill drill; returns the report."""
    drill = Drill(Path(tempfile.mkdtemp(prefix="veille-drill-")))
    started = time.monotonic()
    try:
        for n in range(kills):
            kill = drill.kill_at(KILL_POINTS[n % len(KILL_POINTS)], publish=per_kill)
            if kill.orphans or not kill.reached:
                print(
                    json.dumps(
                        {"kill": n, "point": kill.point, "reached": kill.reached, "orphans": kill.orphans}
                    )
                )
        drill.settle(timeout=300)
        report = drill.report()
    finally:
        drill.close()
    report["seconds"] = round(time.monotonic() - started)
    report["mid_send_kills"] = sum(1 for n in range(kills) if KILL_POINTS[n % len(KILL_POINTS)] == "mid-send")
    return report


def sample(token: str) -> tuple[float, int, int]:
    """RSS in MB and open descriptors of every process carrying the drill's marker, and how many."""
    rss, fds, pids = 0.0, 0, marked(token)
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return rss, fds, len(pids)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (hours, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def run_soak(minutes: float, publish_every: float) -> dict[str, object]:
    """The long run; returns the samples' summary."""
    drill = Drill(Path(tempfile.mkdtemp(prefix="veille-soak-")))
    samples = []
    try:
        drill.site.publish(5)
        drill.start()
        wait(lambda: drill.archived() >= 5, 120)
        started = next_publish = next_sample = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            now = time.monotonic()
            if now >= next_publish:
                drill.site.publish(1)
                next_publish += publish_every
            if now >= next_sample:
                rss, fds, procs = sample(drill.token)
                point = {
                    "minute": round((now - started) / 60, 1),
                    "rss_mb": round(rss, 1),
                    "fds": fds,
                    "procs": procs,
                }
                samples.append(point)
                print(json.dumps(point), flush=True)
                next_sample += 60
            time.sleep(0.5)
        assert drill.proc is not None
        drill.proc.send_signal(signal.SIGTERM)
        drill.proc.wait(60)
        report = drill.report()
    finally:
        drill.close()
    hours = [(float(s["minute"]) / 60, s) for s in samples]
    return {
        "minutes": minutes,
        "published": report["published"],
        "lost": report["lost"],
        "rss_mb_range": [min(s["rss_mb"] for s in samples), max(s["rss_mb"] for s in samples)],
        "rss_mb_per_hour": round(slope([(h, float(s["rss_mb"])) for h, s in hours]), 2),
        "fds_range": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)],
        "fds_per_hour": round(slope([(h, float(s["fds"])) for h, s in hours]), 2),
    }


def main() -> None:
    """Run the kill drill, then the long run; print each summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--per-kill", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--publish-every", type=float, default=30)
    args = parser.parse_args()
    if args.kills:
        print("kills", json.dumps(run_kills(args.kills, args.per_kill)), flush=True)
    if args.minutes:
        print("soak", json.dumps(run_soak(args.minutes, args.publish_every)), flush=True)


if __name__ == "__main__":
    main()
