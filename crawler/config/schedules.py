"""Crawl schedules: `{every: 15m}` (optionally with adaptive bounds) or `{cron: '*/15 * * * *'}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.cron import CronTrigger

DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = 30
SLOWEST_FACTOR = 4  # a quiet source is polled down to a quarter of its configured pace by default
SCHEDULE_KEYS = ("every", "fastest", "slowest", "cron")


@dataclass(frozen=True)
class Schedule:
    """When a source is crawled: every N seconds (adapting between fastest and slowest), or on cron."""

    every_seconds: int | None = None
    cron: str | None = None
    fastest_seconds: int | None = None
    slowest_seconds: int | None = None

    def describe(self) -> str:
        """Human form: 'every 15m (5m-1h)' or 'cron */15 * * * *'."""
        if self.cron:
            return f"cron {self.cron}"
        text = f"every {format_duration(self.every_seconds or 0)}"
        if self.bounds() != (self.every_seconds, self.every_seconds):
            low, high = self.bounds()
            text += f" ({format_duration(low)}-{format_duration(high)})"
        return text

    def bounds(self) -> tuple[int, int]:
        """The fastest and slowest interval adaptive polling may use (seconds)."""
        every = self.every_seconds or 0
        return self.fastest_seconds or every, self.slowest_seconds or every


def parse_duration(text: Any) -> int:
    """Seconds in '30s', '15m', '2h' or '1d'; ValueError otherwise."""
    match = DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """'15m' for 900, '1h30m' for 5400, '45s' for 45."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])


def parse_schedule(raw: Any, floor: int = MIN_INTERVAL, adaptive: bool = False) -> Schedule:
    """Validate a schedule mapping; ValueError with a readable reason.

    With `adaptive`, an interval schedule without bounds may slow down to SLOWEST_FACTOR times its
    pace for a quiet source; it never polls faster than `every` unless `fastest` says so.
    """
    if isinstance(raw, str):
        raw = {"every": raw}
    if (
        not isinstance(raw, dict)
        or not raw
        or set(raw) - set(SCHEDULE_KEYS)
        or ("cron" in raw) == ("every" in raw)
    ):
        raise ValueError(f"unexpected schedule {raw!r}")
    if "cron" in raw:
        if len(raw) > 1:
            raise ValueError("fastest and slowest only go with every, not with cron")
        try:
            CronTrigger.from_crontab(str(raw["cron"]), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {raw['cron']!r}: {exc}") from exc
        return Schedule(cron=str(raw["cron"]))
    every = _interval(raw["every"], floor)
    fastest = _interval(raw["fastest"], floor) if "fastest" in raw else every
    slowest = (
        _interval(raw["slowest"], floor)
        if "slowest" in raw
        else (every * SLOWEST_FACTOR if adaptive else every)
    )
    if not fastest <= every <= slowest:
        raise ValueError(
            f"fastest ({format_duration(fastest)}) <= every ({format_duration(every)}) "
            f"<= slowest ({format_duration(slowest)}) does not hold"
        )
    return Schedule(every_seconds=every, fastest_seconds=fastest, slowest_seconds=slowest)


def _interval(value: Any, floor: int) -> int:
    seconds = parse_duration(value)
    if seconds < floor:
        raise ValueError(f"interval {value!r} is shorter than {format_duration(floor)}, which is impolite")
    return seconds
