"""The daemon's APScheduler triggers: crawl intervals that do not drift, digests, start-up spread."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.config.schedules import Schedule, format_duration


def spread_offset(name: str, window: float) -> float:
    """A stable delay in [0, window) for a job's first run: a restart does not start every crawl at once."""
    if window <= 0:
        return 0.0
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 10_000 / 10_000 * window


class SteadyInterval(IntervalTrigger):
    """An interval whose jitter delays each run without moving the next: APScheduler 3 counts the
    next run from the jittered one, so `every: 15m` drifted to 15m30s on average."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None:
            return super().get_next_fire_time(None, now)
        start, length = self.start_date.timestamp(), self.interval_length
        grid = start + (math.floor((previous_fire_time.timestamp() - start) / length) + 1) * length
        return self._apply_jitter(datetime.fromtimestamp(grid, tz=self.timezone), self.jitter, now)


def crawl_trigger(schedule: Schedule, interval: int | None = None) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of a source: its cron, or its (adapted) interval, each run up to 10%
    (at most 60 s) late."""
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone="UTC")
    seconds = interval or schedule.every_seconds or 900
    return SteadyInterval(seconds=seconds, jitter=min(60, seconds // 10) or None)


def digest_trigger(mode: str, timezone: str) -> CronTrigger | None:
    """When a digest watcher's messages go out: 'hourly', 'daily HH:MM' or 'weekly DOW HH:MM'."""
    parts = mode.split()
    if parts[0] == "hourly":
        return CronTrigger(minute=0, second=5, timezone=timezone)
    if parts[0] == "daily":
        hour, minute = parts[1].split(":")
        return CronTrigger(hour=int(hour), minute=int(minute), second=5, timezone=timezone)
    if parts[0] == "weekly":
        hour, minute = parts[2].split(":")
        return CronTrigger(
            day_of_week=parts[1], hour=int(hour), minute=int(minute), second=5, timezone=timezone
        )
    return None


def trigger_key(trigger: Any) -> tuple[str, str]:
    """What makes two triggers the same schedule (str() of a cron trigger leaves out its zone)."""
    return str(trigger), str(getattr(trigger, "timezone", ""))


def describe_trigger(trigger: Any) -> str:
    """'every 15m' or 'cron 30 3 * * * (UTC)', for `veille status`."""
    if isinstance(trigger, IntervalTrigger):
        return f"every {format_duration(trigger.interval.total_seconds())}"
    if isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields}
        return (
            f"cron {fields['minute']} {fields['hour']} {fields['day']} {fields['month']} "
            f"{fields['day_of_week']} ({trigger.timezone})"
        )
    return str(trigger)
