"""What the daemon publishes in the archive for `veille status`, and reading it back; the archive's
counts that /healthz and /metrics report."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crawler.extract.dates import parse_utc


@dataclass(frozen=True)
class JobRow:
    """One scheduled job as `veille status` shows it."""

    id: str
    trigger: str
    next_run: str | None
    last_run: str | None = None
    last_status: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Status:
    """Everything `veille status` prints."""

    state: dict[str, str | None]
    jobs: list[JobRow]
    sources: list[tuple]
    problems: list[tuple[str, str, str, str]]
    deliveries: dict[str, int]
    notices: dict[str, int]

    def running(self, now: datetime, stale_after: float = 60) -> bool:
        """True when the daemon's heartbeat is fresh and its process is alive on this machine."""
        beat, pid = self.state.get("heartbeat_at"), self.state.get("pid")
        if not beat or not pid or self.state.get("stopped_at"):
            return False
        age = (now - parse_utc(beat)).total_seconds()
        return age <= stale_after and _alive(int(pid))


def publish_state(conn: sqlite3.Connection, values: dict[str, str | None]) -> None:
    """Upsert some daemon_state keys."""
    conn.executemany(
        "INSERT INTO daemon_state (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )
    conn.commit()


def publish_jobs(conn: sqlite3.Connection, jobs: list[JobRow]) -> None:
    """Replace the published job list."""
    conn.execute("DELETE FROM daemon_jobs")
    conn.executemany(
        "INSERT INTO daemon_jobs (id, trigger, next_run, last_run, last_status, last_error) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(j.id, j.trigger, j.next_run, j.last_run, j.last_status, j.last_error) for j in jobs],
    )
    conn.commit()


def read_status(conn: sqlite3.Connection) -> Status:
    """The daemon's published state, each source's last result, open problems, outbox counts."""
    state = dict(conn.execute("SELECT key, value FROM daemon_state").fetchall())
    jobs = [
        JobRow(*row)
        for row in conn.execute(
            "SELECT id, trigger, next_run, last_run, last_status, last_error FROM daemon_jobs ORDER BY id"
        )
    ]
    sources = conn.execute(
        "SELECT s.name, s.last_attempt, (SELECT status FROM crawl_runs r WHERE r.source = s.name "
        "ORDER BY r.id DESC LIMIT 1), s.consecutive_failures, s.last_success FROM sources s "
        "ORDER BY s.name"
    ).fetchall()
    problems = conn.execute(
        "SELECT source, kind, raised_at, detail FROM source_problems ORDER BY raised_at"
    ).fetchall()
    deliveries = dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())
    notices = dict(conn.execute("SELECT status, COUNT(*) FROM notices GROUP BY status").fetchall())
    return Status(state, jobs, sources, problems, deliveries, notices)


@dataclass(frozen=True)
class HealthCounts:
    """What /healthz reports from the archive."""

    problem_sources: list[str]  # the sources with an open problem, by name
    deliveries_waiting: int  # pending or failed (to be retried)
    deliveries_dead: int


@dataclass(frozen=True)
class Gauges:
    """What /metrics reads from the archive at each scrape."""

    failures: list[tuple[str, int]]  # (source, failed crawls in a row), by name
    problems: list[tuple[str, int]]  # (kind, open problems)
    outbox: dict[str, int]  # deliveries waiting or dead, by status (only the statuses found)
    articles: int  # the highest article id


def read_health_counts(conn: sqlite3.Connection) -> HealthCounts:
    """The sources with open problems and the deliveries not sent yet, for /healthz."""
    names = [r[0] for r in conn.execute("SELECT DISTINCT source FROM source_problems ORDER BY source")]
    waiting = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'failed')").fetchone()
    dead = conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'dead'").fetchone()
    return HealthCounts(names, waiting[0], dead[0])


def read_gauges(conn: sqlite3.Connection) -> Gauges:
    """Failures per source, open problems per kind, the outbox and the archive's size, for /metrics."""
    failures = conn.execute("SELECT name, consecutive_failures FROM sources ORDER BY name").fetchall()
    problems = conn.execute("SELECT kind, COUNT(*) FROM source_problems GROUP BY kind").fetchall()
    outbox = conn.execute(
        "SELECT status, COUNT(*) FROM deliveries "
        "WHERE status IN ('pending', 'failed', 'dead') GROUP BY status"
    ).fetchall()
    total = conn.execute("SELECT MAX(id) FROM articles").fetchone()[0] or 0
    return Gauges(failures, problems, dict(outbox), total)


def read_status_at(path: Path) -> Status:
    """`read_status` of the archive at `path`, over a read-only connection: the daemon may be writing."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return read_status(conn)
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user (the service account)
        return True
    return True
