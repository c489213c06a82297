"""Source health and rhythm, as plain functions over a source's recent history (no I/O; its `Facts`
and `Seen` records come from crawler/archive/health.py).

A source is in trouble when its crawls keep failing, when it is silent for longer than its own
publishing rhythm allows, or when fewer of its new articles come out whole (body and date).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler.archive.health import Facts, Seen
from crawler.config.schedules import Schedule, format_duration

RECENT = 10  # the newest articles whose yield is compared with the month before them
MIN_HISTORY = 10  # fewer articles in 30 days: no rhythm is learned, no silence is claimed
MIN_BASELINE = 20


@dataclass(frozen=True)
class Thresholds:
    """When health calls a source failing, silent or degraded (from settings.yaml)."""

    failures: int = 3
    silence_min: timedelta = timedelta(hours=12)
    yield_drop: float = 0.5


@dataclass(frozen=True)
class Problem:
    """One open problem of a source: kind is 'failing', 'silent' or 'yield'."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Rhythm:
    """How often a source publishes: mean and longest gap between articles (seconds)."""

    articles: int
    mean_gap: float | None
    longest_gap: float | None


def learn_rhythm(articles: tuple[Seen, ...], since: datetime, now: datetime) -> Rhythm:
    """The source's publishing rhythm from the articles published between `since` and `now`."""
    times = sorted(a.published for a in articles if since <= a.published <= now)
    if len(times) < MIN_HISTORY:
        return Rhythm(len(times), None, None)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    span = now - max(since, times[0])  # a young source (or a capped history) spans less than the window
    return Rhythm(len(times), span.total_seconds() / len(times), max(gaps))


def adapt_interval(schedule: Schedule, facts: Facts, now: datetime) -> int | None:
    """The polling interval for the source's rhythm: about two polls per article gap, within its
    bounds; None for cron schedules."""
    if schedule.every_seconds is None:
        return None
    low, high = schedule.bounds()
    rhythm = learn_rhythm(facts.articles, now - timedelta(days=7), now)
    if rhythm.mean_gap is None:
        return schedule.every_seconds
    return int(min(high, max(low, rhythm.mean_gap / 2)))


def assess(facts: Facts, thresholds: Thresholds, now: datetime) -> list[Problem]:
    """The source's problems now."""
    if facts.consecutive_failures >= thresholds.failures:
        return [
            Problem(
                "failing",
                f"its last {facts.consecutive_failures} crawls failed; last error: "
                f"{facts.last_error or 'unknown'}",
            )
        ]
    return [p for p in (_silence(facts, thresholds, now), _yield(facts, thresholds)) if p]


def _silence(facts: Facts, thresholds: Thresholds, now: datetime) -> Problem | None:
    rhythm = learn_rhythm(facts.articles, now - timedelta(days=30), now)
    if rhythm.longest_gap is None or facts.last_success is None:
        return None
    # Up to the last crawl that worked, not up to now: a source polled rarely, or not polled yet
    # after a downtime, is not silent, just unchecked.
    silence = facts.last_success - max(a.found for a in facts.articles)
    allowed = max(thresholds.silence_min, timedelta(seconds=1.5 * rhythm.longest_gap))
    if silence <= allowed:
        return None
    return Problem(
        "silent",
        f"no new article for {format_duration(silence.total_seconds())}, while its "
        f"longest gap in 30 days was {format_duration(rhythm.longest_gap)}",
    )


def _yield(facts: Facts, thresholds: Thresholds) -> Problem | None:
    recent, before = facts.articles[:RECENT], facts.articles[RECENT:]
    if len(recent) < RECENT or len(before) < MIN_BASELINE:
        return None
    now_share = sum(a.complete for a in recent) / len(recent)
    usual = sum(a.complete for a in before) / len(before)
    if usual - now_share < thresholds.yield_drop:
        return None
    return Problem(
        "yield",
        f"only {now_share:.0%} of its last {len(recent)} articles came with a body and "
        f"a date (usually {usual:.0%}); the site may have changed its pages "
        "(hint: check its extract selectors with `veille crawl SOURCE --no-alerts -v`)",
    )


def changes(open_problems: dict[str, str], found: list[Problem]) -> tuple[list[Problem], list[str]]:
    """The problems newly raised, and the kinds that cleared, since the last assessment. While a
    source fails, its other problems cannot be judged: they stay open, neither raised nor cleared."""
    kinds = {p.kind for p in found}
    raised = [p for p in found if p.kind not in open_problems]
    if "failing" in kinds:
        return raised, []
    return raised, [kind for kind in open_problems if kind not in kinds]
