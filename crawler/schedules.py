"""Crawl schedules: `{every: 15m}` or `{cron: '*/15 * * * *'}`, parsed into a plain value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.cron import CronTrigger

DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = 30


@dataclass(frozen=True)
class Schedule:
    """When a source is crawled: every N seconds, or on a cron expression."""

    every_seconds: int | None = None
    cron: str | None = None

    def describe(self) -> str:
        """Human form: 'every 15m' or 'cron */15 * * * *'."""
        if self.cron:
            return f"cron {self.cron}"
        return f"every {format_duration(self.every_seconds or 0)}"


def parse_duration(text: Any) -> int:
    """Seconds in '30s', '15m', '2h' or '1d'; ValueError otherwise."""
    match = DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """'15m' for 900."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_schedule(raw: Any) -> Schedule:
    """Validate a schedule mapping; ValueError with a readable reason."""
    if isinstance(raw, str):
        raw = {"every": raw}
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("every", "cron"):
        raise ValueError(f"unexpected schedule {raw!r}")
    kind, value = next(iter(raw.items()))
    if kind == "cron":
        try:
            CronTrigger.from_crontab(str(value), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from exc
        return Schedule(cron=str(value))
    seconds = parse_duration(value)
    if seconds < MIN_INTERVAL:
        raise ValueError(f"interval {value!r} is shorter than {MIN_INTERVAL}s, which is impolite")
    return Schedule(every_seconds=seconds)
