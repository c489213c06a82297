"""Prometheus metrics of the daemon: its own counters, plus gauges read from the archive at scrape time."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from crawler.archive.state import read_gauges


class Counters:
    """What the daemon counted since it started (Prometheus counters reset with the process)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.crawls: Counter[tuple[str, str]] = Counter()  # (source, status)
        self.articles: Counter[tuple[str, str]] = Counter()  # (source, outcome)
        self.deliveries: Counter[str] = Counter()  # outcome
        self.reloads: Counter[str] = Counter()  # ok, error
        self.last_crawl: dict[str, float] = {}


class Collector:
    """Yields the daemon's metrics; the archive's gauges are read on each scrape (archive/state.py)."""

    def __init__(self, counters: Counters, conn: sqlite3.Connection) -> None:
        self.counters = counters
        self.conn = conn

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._gauges()

    def _counters(self) -> Iterator[Metric]:
        c = self.counters
        crawls = CounterMetricFamily(
            "veille_crawls", "Crawls finished, by source and status", labels=["source", "status"]
        )
        for (source, status), n in sorted(c.crawls.items()):
            crawls.add_metric([source, status], n)
        articles = CounterMetricFamily(
            "veille_articles", "Articles stored, by source and outcome", labels=["source", "outcome"]
        )
        for (source, outcome), n in sorted(c.articles.items()):
            articles.add_metric([source, outcome], n)
        deliveries = CounterMetricFamily(
            "veille_deliveries", "Delivery attempts, by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(c.deliveries.items()):
            deliveries.add_metric([outcome], n)
        reloads = CounterMetricFamily("veille_config_reloads", "Config reloads, by result", labels=["result"])
        for result, n in sorted(c.reloads.items()):
            reloads.add_metric([result], n)
        last = GaugeMetricFamily(
            "veille_last_crawl_timestamp_seconds", "When each source's last crawl ended", labels=["source"]
        )
        for source, when in sorted(c.last_crawl.items()):
            last.add_metric([source], when)
        yield from (crawls, articles, deliveries, reloads, last)
        yield GaugeMetricFamily("veille_start_time_seconds", "When the daemon started", value=c.started)

    def _gauges(self) -> Iterator[Metric]:
        gauges = read_gauges(self.conn)
        failures = GaugeMetricFamily(
            "veille_source_consecutive_failures", "Failed crawls in a row", labels=["source"]
        )
        for name, count in gauges.failures:
            failures.add_metric([name], count)
        problems = GaugeMetricFamily(
            "veille_source_problems", "Open source problems, by kind", labels=["kind"]
        )
        for kind, count in gauges.problems:
            problems.add_metric([kind], count)
        outbox = GaugeMetricFamily("veille_outbox", "Deliveries in the outbox, by status", labels=["status"])
        counts = dict.fromkeys(("pending", "failed", "dead"), 0)  # zeros too: an alert rule needs a sample
        counts.update(gauges.outbox)
        for status, count in counts.items():
            outbox.add_metric([status], count)
        yield from (failures, problems, outbox)
        yield GaugeMetricFamily(
            "veille_archive_articles", "Articles in the archive (highest id)", value=gauges.articles
        )


def render_metrics(counters: Counters, conn: sqlite3.Connection) -> bytes:
    """The Prometheus text exposition of the daemon and its process."""
    registry = CollectorRegistry()
    registry.register(Collector(counters, conn))
    ProcessCollector(registry=registry)
    return generate_latest(registry)
