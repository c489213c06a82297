"""The daemon's pieces without a reactor: triggers, config stamps, the lock, health records, status."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.archive.articles import Archive
from crawler.archive.state import JobRow, publish_jobs, publish_state, read_status
from crawler.cli.status import render_status, status_json
from crawler.config import load_config
from crawler.config.schedules import parse_schedule
from crawler.config.watchers import Watcher
from crawler.daemon.health import Thresholds
from crawler.daemon.healthcheck import check_source
from crawler.daemon.logs import JsonFormatter, ReportedElsewhere
from crawler.daemon.triggers import crawl_trigger, digest_trigger, spread_offset
from crawler.exceptions import StorageError
from scheduler import Daemon, config_stamp, take_lock

SOURCES = "sources:\n  - name: site\n    languages: [fr]\n    feeds: [https://site.ma/feed]\n"
ADMIN = Watcher(name="admin", title="admin", topics=("ia",), email=("admin@example.ma",), admin=True)


def test_the_config_stamp_follows_every_saved_edit(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    first = config_stamp(tmp_path)
    assert config_stamp(tmp_path) == first
    (tmp_path / "keywords.yaml").write_text("topics: []\n")
    assert config_stamp(tmp_path) != first


def test_first_runs_are_spread_and_stable_across_restarts() -> None:
    offsets = [spread_offset(f"source-{i}", 120) for i in range(50)]
    assert all(0 <= o < 120 for o in offsets) and len({round(o) for o in offsets}) > 25
    assert spread_offset("source-1", 120) == offsets[1] and spread_offset("x", 0) == 0


def test_triggers_of_sources_and_digests() -> None:
    trigger = crawl_trigger(parse_schedule({"every": "15m"}))
    assert isinstance(trigger, IntervalTrigger) and trigger.interval == timedelta(minutes=15)
    assert trigger.jitter == 60
    assert crawl_trigger(parse_schedule({"every": "15m"}), 1800).interval == timedelta(minutes=30)
    assert isinstance(crawl_trigger(parse_schedule({"cron": "*/5 * * * *"})), CronTrigger)
    daily = digest_trigger("daily 08:30", "Africa/Casablanca")
    fire = daily.get_next_fire_time(None, datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)  # UTC+1 in November
    assert digest_trigger("instant", "UTC") is None
    assert str(digest_trigger("weekly mon 09:00", "UTC").fields[4]) == "mon"


def test_a_second_daemon_on_the_same_archive_is_refused(tmp_path: Path) -> None:
    lock = take_lock(tmp_path / "v.db")
    with pytest.raises(StorageError, match=r"another `veille run` \(pid \d+\) already uses this archive"):
        take_lock(tmp_path / "v.db")
    lock.close()
    take_lock(tmp_path / "v.db").close()


def test_a_failing_source_is_reported_once_and_its_recovery_once(tmp_path: Path) -> None:
    conn = Archive.open(tmp_path / "a.db").db.conn
    conn.execute(
        "INSERT INTO sources (name, consecutive_failures, last_error) VALUES ('site', 3, 'HTTP 500')"
    )
    now = datetime.now(UTC)
    lines = check_source(conn, "site", Thresholds(), {"admin": ADMIN}, now)
    assert lines == ["source site is down: its last 3 crawls failed; last error: HTTP 500"]
    assert check_source(conn, "site", Thresholds(), {"admin": ADMIN}, now + timedelta(minutes=10)) == []
    conn.execute("UPDATE sources SET consecutive_failures = 0")
    assert check_source(conn, "site", Thresholds(), {"admin": ADMIN}, now) == [
        "source site recovered: no longer down"
    ]
    subjects = [r[0] for r in conn.execute("SELECT subject FROM notices ORDER BY created_at, kind")]
    assert sorted(subjects) == ["source site has recovered", "source site is down"]


def test_a_health_check_queued_before_a_source_was_disabled_does_not_reopen_its_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    monkeypatch.setenv("VEILLE_DB", str(tmp_path / "v.db"))
    config = load_config(tmp_path)
    daemon = Daemon(config, take_lock(config.database_path()))
    conn = daemon.archive.db.conn
    conn.execute(
        "INSERT INTO sources (name, consecutive_failures, last_error) VALUES ('site', 3, 'HTTP 500')"
    )
    (tmp_path / "sources.yaml").write_text(SOURCES + "    enabled: false\n")
    daemon.config = load_config(tmp_path)  # what the reload did; the chore still holds the old config
    daemon._health_chore(conn, "site", config)
    assert conn.execute("SELECT COUNT(*) FROM source_problems").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM notices").fetchone()[0] == 0
    daemon.config = config
    daemon._health_chore(conn, "site", config)
    assert conn.execute("SELECT COUNT(*) FROM source_problems").fetchone()[0] == 1
    daemon.archive.close()


def test_status_tells_a_running_daemon_from_a_killed_one(tmp_path: Path) -> None:
    conn = Archive.open(tmp_path / "a.db").db.conn
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    publish_state(
        conn,
        {
            "pid": str(__import__("os").getpid()),
            "started_at": stamp,
            "heartbeat_at": stamp,
            "version": "0.1.0",
            "config_error": None,
        },
    )
    publish_jobs(conn, [JobRow("crawl:site", "every 15m", stamp, None, None, None)])
    status = read_status(conn)
    assert status.running(now) and not status.running(now + timedelta(minutes=5))
    text = render_status(status, now)
    assert text.startswith("daemon: running (pid") and "crawl:site" in text and "every 15m" in text
    stopped = render_status(status, now + timedelta(minutes=5))
    assert "killed or crashed?" in stopped
    [row] = [line.split() for line in stopped.splitlines() if line.startswith("crawl:site")]
    assert row[3] == "-"  # no next run is promised by a daemon that is not running
    assert json.loads(status_json(status, now))["jobs"][0]["id"] == "crawl:site"
    publish_state(conn, {"config_error": "keywords.yaml:4:1: YAML syntax error"})
    assert "running the last good config: keywords.yaml:4:1" in render_status(read_status(conn), now)


def test_json_log_lines_carry_the_source() -> None:
    record = logging.LogRecord(
        "veille.daemon", logging.WARNING, __file__, 1, "crawl %s failed", ("site",), None
    )
    record.source = "site"
    entry = json.loads(JsonFormatter().format(record))
    assert (
        entry["message"] == "crawl site failed" and entry["source"] == "site" and entry["level"] == "WARNING"
    )


def test_the_log_filter_keeps_one_line_per_failed_crawl() -> None:
    # (configure_logs installs it unless --verbose)
    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, (), None)

    keep = ReportedElsewhere().filter
    assert not keep(record("veille", logging.INFO, "site: feed https://site.ma/feed: HTTP 404"))  # the spider
    assert not keep(record("scrapy.core.scraper", logging.ERROR, "Error downloading <GET https://site.ma/>"))
    assert keep(record("veille", logging.ERROR, "site: extraction failed for https://site.ma/a"))
    assert keep(record("veille.daemon", logging.WARNING, "crawl site: failed, 0 found"))


def test_a_full_disk_in_a_chore_is_one_log_line_and_the_daemon_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    monkeypatch.setenv("VEILLE_DB", str(tmp_path / "v.db"))
    config = load_config(tmp_path)
    daemon = Daemon(config, take_lock(config.database_path()))

    def full(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    async def run() -> object:
        return await daemon.chore(full), await daemon.chore(lambda conn: 42)

    assert asyncio.run(run()) == (None, 42)
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        line == "full failed: database or disk is full (hint: check free disk space and the database "
        "file's permissions)"
    )
    for lane in daemon.lanes.values():
        lane.shutdown()
    daemon.archive.close()


def test_an_adapted_interval_reschedules_the_source_within_its_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    (tmp_path / "sources.yaml").write_text(SOURCES + "    schedule: {every: 10m, slowest: 1h}\n")
    monkeypatch.setenv("VEILLE_DB", str(tmp_path / "v.db"))
    config = load_config(tmp_path)
    daemon = Daemon(config, take_lock(config.database_path()))
    source = config.source("site")

    async def run() -> list[timedelta]:
        daemon.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
        daemon._add_crawl_job(source, None)
        seen = [daemon.scheduler.get_job("crawl:site").trigger.interval]
        daemon._adapt("site", source.schedule, 3600)  # a quiet source: as slow as its bounds allow
        seen.append(daemon.scheduler.get_job("crawl:site").trigger.interval)
        daemon._adapt("site", source.schedule, 3500)  # within 10%: left alone, no churn
        seen.append(daemon.scheduler.get_job("crawl:site").trigger.interval)
        return seen

    assert asyncio.run(run()) == [timedelta(minutes=10), timedelta(hours=1), timedelta(hours=1)]
    assert daemon.intervals == {"site": 3600}
    for lane in daemon.lanes.values():
        lane.shutdown()
    daemon.archive.close()


def test_jitter_delays_runs_without_drifting_the_schedule() -> None:
    trigger = crawl_trigger(parse_schedule({"every": "15m"}))
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, now)
    fires = [fire]
    for _ in range(200):
        fire = trigger.get_next_fire_time(fire, fire)
        fires.append(fire)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    assert min(gaps) >= 840 and max(gaps) <= 960  # each run up to 60 s late
    drift = (fires[-1] - fires[0]).total_seconds() - 200 * 900
    assert abs(drift) <= 60  # APScheduler's own IntervalTrigger drifts by ~30 s a run: 100 min here
