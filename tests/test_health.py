"""Source health and rhythm as pure functions: failing, silent, losing text; adaptive intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawler.config.schedules import parse_schedule
from crawler.daemon.health import (
    Facts,
    Problem,
    Seen,
    Thresholds,
    adapt_interval,
    assess,
    changes,
    learn_rhythm,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def every(hours: float, count: int, complete: bool = True, start: float = 0) -> tuple[Seen, ...]:
    """`count` articles, one every `hours`, the newest `start` hours ago, newest first."""
    times = [NOW - timedelta(hours=start + i * hours) for i in range(count)]
    return tuple(Seen(t, t, complete) for t in times)


def facts(articles: tuple[Seen, ...], failures: int = 0, checked: datetime | None = NOW) -> Facts:
    """A source whose last successful crawl was at `checked`."""
    return Facts(
        "site", failures, "feed https://site.ma/feed: HTTP 500" if failures else None, articles, checked
    )


def test_consecutive_failures_make_a_source_failing() -> None:
    assert assess(facts(every(1, 50), failures=2), Thresholds(), NOW) == []
    [problem] = assess(facts(every(1, 50), failures=3), Thresholds(), NOW)
    assert (
        problem.kind == "failing"
        and "last 3 crawls failed" in problem.detail
        and "HTTP 500" in problem.detail
    )


def test_a_busy_source_is_silent_sooner_than_a_quiet_one() -> None:
    hourly = facts(every(1, 200, start=13))  # one article an hour, none for 13 hours
    assert [p.kind for p in assess(hourly, Thresholds(), NOW)] == ["silent"]
    assert "no new article for 13h" in assess(hourly, Thresholds(), NOW)[0].detail
    daily = facts(every(20, 30, start=13))  # one every 20 hours: 13 hours is its normal rhythm
    assert assess(daily, Thresholds(), NOW) == []


def test_silence_counts_up_to_the_last_crawl_that_worked_not_up_to_now() -> None:
    # After a downtime the first health check may come before the first crawl: unchecked, not silent.
    unchecked = facts(every(1, 200, start=13), checked=NOW - timedelta(hours=13))
    assert assess(unchecked, Thresholds(), NOW) == []
    assert assess(facts(every(1, 200, start=13), checked=None), Thresholds(), NOW) == []


def test_silence_is_never_claimed_before_the_minimum_or_without_history() -> None:
    assert assess(facts(every(0.1, 200, start=5)), Thresholds(silence_min=timedelta(hours=6)), NOW) == []
    assert assess(facts(every(1, 5, start=100)), Thresholds(), NOW) == []  # too little history


def test_a_drop_in_complete_articles_is_reported_with_a_hint() -> None:
    recent = every(1, 10, complete=False)
    usual = every(1, 40, start=10)
    [problem] = assess(facts(recent + usual), Thresholds(), NOW)
    assert problem.kind == "yield" and "0% of its last 10 articles" in problem.detail
    assert "usually 100%" in problem.detail and "extract selectors" in problem.detail
    half = tuple(Seen(a.published, a.found, i % 2 == 0) for i, a in enumerate(recent))
    assert assess(facts(half + usual), Thresholds(yield_drop=0.6), NOW) == []


def test_rhythm_is_the_mean_and_longest_gap() -> None:
    rhythm = learn_rhythm(every(2, 50), NOW - timedelta(days=7), NOW)
    assert rhythm.articles == 50 and rhythm.longest_gap == 7200
    assert rhythm.mean_gap == 49 * 7200 / 50  # over the span it covers, not the whole window


def test_polling_adapts_to_the_rhythm_within_the_bounds() -> None:
    bounded = parse_schedule({"every": "10m", "fastest": "5m", "slowest": "1h"})
    assert adapt_interval(bounded, facts(every(0.05, 400)), NOW) == 300  # busy: as fast as allowed
    assert adapt_interval(bounded, facts(every(24, 8)), NOW) == 600  # no history: its own pace
    assert adapt_interval(bounded, facts(every(6, 28)), NOW) == 3600  # quiet: as slow as allowed
    assert adapt_interval(parse_schedule({"cron": "*/5 * * * *"}), facts(every(6, 28)), NOW) is None


def test_changes_raise_new_problems_once_and_clear_the_gone_ones() -> None:
    found = [Problem("failing", "x")]
    assert changes({}, found) == (found, [])
    assert changes({"failing": "x"}, found) == ([], [])
    assert changes({"silent": "y"}, []) == ([], ["silent"])
    # a source that fails cannot be judged silent or not: its silence is neither raised nor cleared
    assert changes({"failing": "x", "silent": "y"}, found) == ([], [])
