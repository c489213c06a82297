"""`veille status` rendered as text or JSON from the published daemon state (pure)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from crawler.archive.state import Status
from crawler.cli.text import format_table, shorten
from crawler.config.schedules import format_duration
from crawler.extract.dates import parse_utc


def _ago(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "never"
    seconds = (now - parse_utc(stamp)).total_seconds()
    return f"in {format_duration(-seconds)}" if seconds < 0 else f"{format_duration(seconds) or '0s'} ago"


def daemon_line(status: Status, now: datetime) -> str:
    """'daemon: running (pid 12, up 2h3m, ...)' or why it is not."""
    state = status.state
    if status.running(now):
        line = (
            f"daemon: running (pid {state.get('pid')}, version {state.get('version')}, "
            f"started {_ago(state.get('started_at'), now)}, "
            f"heartbeat {_ago(state.get('heartbeat_at'), now)})"
        )
    elif state.get("stopped_at"):
        line = f"daemon: stopped {_ago(state['stopped_at'], now)} (it ran since {state.get('started_at')})"
    elif state.get("heartbeat_at"):
        line = f"daemon: not running (last heartbeat {_ago(state['heartbeat_at'], now)}; killed or crashed?)"
    else:
        line = "daemon: never started on this archive (hint: veille run)"
    if state.get("config_error"):
        line += f"\nconfig: an edit was refused, running the last good config: {state['config_error']}"
    return line


def render_status(status: Status, now: datetime) -> str:
    """The whole status as text."""
    parts = [daemon_line(status, now), ""]
    running = status.running(now)
    # A stopped daemon schedules nothing: its last plan would read as runs still to come.
    jobs = [
        (
            j.id,
            j.trigger,
            _next_run(j.next_run, now) if running else "-",
            _ago(j.last_run, now),
            j.last_status or "-",
            shorten(j.last_error or "", 50),
        )
        for j in status.jobs
    ]
    if jobs:
        parts += [format_table(("job", "schedule", "next run", "last run", "result", "error"), jobs), ""]
    open_problems = {(p[0]): f"{p[1]} since {p[2]}" for p in status.problems}
    rows = [
        (name, _ago(attempt, now), result or "-", failures, _ago(success, now), open_problems.get(name, ""))
        for name, attempt, result, failures, success in status.sources
    ]
    if rows:
        headers = ("source", "last crawl", "result", "failures", "last success", "problem")
        parts += [format_table(headers, rows), ""]
    deliveries = ", ".join(
        f"{status.deliveries.get(k, 0)} {k}" for k in ("pending", "failed", "dead", "sent")
    )
    notices = ", ".join(f"{n} {k}" for k, n in sorted(status.notices.items())) or "none"
    parts += [f"alerts: {deliveries}", f"admin notices: {notices}"]
    if status.deliveries.get("dead"):
        parts.append(
            "hint: `veille alerts --state dead` lists them; `veille alerts retry --dead` sends them again"
        )
    return "\n".join(parts)


def _next_run(stamp: str | None, now: datetime) -> str:
    return _ago(stamp, now) if stamp else "paused"


def status_json(status: Status, now: datetime) -> str:
    """The whole status as JSON."""
    return json.dumps(
        {
            "running": status.running(now),
            "daemon": status.state,
            "jobs": [asdict(j) for j in status.jobs],
            "sources": [
                dict(
                    zip(
                        ("name", "last_crawl", "result", "consecutive_failures", "last_success"),
                        row,
                        strict=True,
                    )
                )
                for row in status.sources
            ],
            "problems": [
                dict(zip(("source", "kind", "since", "detail"), p, strict=True)) for p in status.problems
            ],
            "deliveries": status.deliveries,
            "notices": status.notices,
        },
        ensure_ascii=False,
        indent=2,
    )
