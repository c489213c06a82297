"""Soak benchmark: 1,000 crawl cycles through the daemon's own crawl job; memory growth and idle CPU.

Why: the daemon (`veille run`) crawls every source again and again in one long-lived process, on one
reactor, with one archive, worker pool and chores thread. A leak of a few kilobytes per cycle, or a
cycle that costs more CPU than it should, only shows after many cycles.

How: a small news site (a feed of --articles articles with real Arabic text, as in bench/crawl.py) is
served on 127.0.0.1 by tests/miniweb.py, with an aiosmtpd server for the alert emails (one topic
matches every article, one instant email watcher). Each phase runs in its own child process, so its
memory figures are its own:

  bare    the baseline: a bare Scrapy spider on a long-lived AsyncCrawlerRunner, same Scrapy settings,
          fetching the same feed --cycles times (a conditional GET after the first: 304, as the daemon)
  daemon  a scheduler.Daemon built as `veille run` builds it (asyncio reactor, logging, lock, archive,
          worker pool, writer lanes); its real crawl job `Daemon.crawl(source)` is awaited --cycles
          times in a row: domain lock, slot, crawl_sources, run log, then (awaited before the next
          cycle) the health and adaptive-polling chore and the dispatch that follow it. The first
          cycle stores the articles and sends their emails; the others are idle (robots.txt and a 304
          for the feed), unless --new-every publishes an article now and then. The APScheduler is
          created with the daemon's jobs but paused, so no timed job (heartbeat, config watch,
          dispatch) runs: the figures are those of the crawl job alone.

RSS is read from /proc after the warm-up (--warm cycles) and at the end; CPU is the process's own
(all threads) plus the extraction worker's. Figures are printed as JSON lines, then a summary.

Usage: python bench/soak.py [--cycles 1000] [--articles 20] [--warm 10] [--new-every 0] [--overlap]
                            [--keep DIR]
       (a quick run: --cycles 100; a soak with some work: --cycles 5000 --new-every 20)
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import gc
import html
import json
import multiprocessing
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import scrapy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crawl import article_page, paragraphs  # noqa: E402

SOURCE = "soak"
TERM = "المقال"  # every generated body ends with "رقم المقال N.": every article matches the topic
MARK_EVERY = 100


# -- the fixture site and config ------------------------------------------------------------------


def make_article(n: int, pool: list[str], published: float | None = None) -> tuple[str, str]:
    """Title and page of article n (deterministic, so a child process can publish more). The words of
    each paragraph are shuffled: with only 73 real paragraphs, two articles would otherwise often be
    near-duplicates, one story, and get one alert between them."""
    rng = random.Random(n)
    title = " ".join(rng.choice(pool).split()[:9]) + f" ({n})"
    related = [" ".join(rng.choice(pool).split()[:9]) for _ in range(15)]
    body = [" ".join(rng.sample(words, len(words))) for words in (p.split() for p in rng.sample(pool, 4))]
    page = article_page(n, title, body + [f"رقم المقال {n}."], related)
    if published is not None:  # the page's JSON-LD date, else a day of November 2026 picked from n
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(published))
        page = re.sub(r'"datePublished": "[^"]*"', f'"datePublished": "{stamp}"', page)
    return title, page


def feed_text(items: list[tuple[int, str, float]]) -> str:
    """An RSS feed of (number, title, published timestamp) items, newest first."""
    entries = "".join(
        f"<item><title>{html.escape(title)}</title><link>{{{{BASE}}}}/a/{n}.html</link><guid>{{{{BASE}}}}/?p={n}</guid>"
        f"<pubDate>{email.utils.formatdate(published, usegmt=True)}</pubDate></item>"
        for n, title, published in sorted(items, key=lambda i: -i[2])
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>News</title>'
        f"<link>{{{{BASE}}}}/</link><description>news</description><language>ar</language>{entries}"
        "</channel></rss>"
    )


def write_feed(site: Path, items: list[tuple[int, str, float]]) -> None:
    """Write the site's feed.xml atomically, so a request never reads half a feed."""
    tmp = site / ".feed.xml.tmp"  # hidden from MiniWeb
    tmp.write_text(feed_text(items), "utf-8")
    tmp.replace(site / "feed.xml")


def publish(site: Path, n: int, pool: list[str], keep: int) -> None:
    """Publish article n: its page, then the feed with it on top (MiniWeb serves files as they are)."""
    title, page = make_article(n, pool, time.time())
    (site / "a" / f"{n}.html").write_text(page, "utf-8")
    items = json.loads((site / "_items.json").read_text())
    items = ([[n, title, time.time()]] + items)[:keep]
    (site / "_items.json").write_text(json.dumps(items, ensure_ascii=False))
    write_feed(site, [tuple(i) for i in items])


def build_site(root: Path, count: int, name: str = SOURCE) -> Path:
    """A news site: robots.txt, `count` article pages and their feed, published over the last hours."""
    site = root / name
    (site / "a").mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    pool, now = paragraphs(), time.time()
    items = []
    for n in range(count):
        title, page = make_article(n, pool)
        (site / "a" / f"{n}.html").write_text(page, "utf-8")
        items.append([n, title, now - (count - n) * 1800])
    (site / "_items.json").write_text(json.dumps(items, ensure_ascii=False))
    write_feed(site, [tuple(i) for i in items])
    return site


def write_config(directory: Path, base: str, smtp_port: int) -> None:
    """A one-source config: no download delay, one topic matching everything, one email watcher."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.yaml").write_text(
        f'sources:\n  - name: {SOURCE}\n    languages: [ar]\n    feeds: ["{base}/feed.xml"]\n'
    )
    (directory / "settings.yaml").write_text(
        f"database: {directory / 'soak.db'}\ndownload_delay: 0\ntimeout: 10\nretries: 0\n"
        "allow_private_addresses: true\n"
        f"smtp_host: 127.0.0.1\nsmtp_port: {smtp_port}\nsmtp_tls: none\n",
        "utf-8",
    )
    (directory / "keywords.yaml").write_text(f"topics:\n  - name: soak\n    any: [{TERM}]\n", "utf-8")
    (directory / "watchers.yaml").write_text(
        "watchers:\n  - name: soak\n    topics: [soak]\n    email: [soak@example.ma]\n    mode: instant\n"
    )


# -- measuring --------------------------------------------------------------------------------------


def read_rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def read_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def take_snapshot(phase: str, cycle: int, started: float, durations: list[float]) -> dict[str, Any]:
    """This process's (and its worker processes') memory, CPU and resources after `cycle` cycles, and
    the median time of the last MARK_EVERY cycles (a cycle that slows down as the archive grows)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    workers = [p.pid for p in multiprocessing.active_children()]
    snapshot = {
        "phase": phase,
        "cycle": cycle,
        "seconds": time.perf_counter() - started,
        "recent_median_ms": statistics.median(durations[-MARK_EVERY:]) * 1000,
        "rss_mb": read_rss_mb(),
        "peak_rss_mb": me.ru_maxrss / 1024,
        "cpu_s": me.ru_utime + me.ru_stime,
        "worker_rss_mb": sum(read_rss_mb(p) for p in workers),
        "worker_cpu_s": sum(read_cpu_s(p) for p in workers),
    }
    gc.collect()  # after the readings above: count what is kept, not garbage waiting for the collector
    return snapshot | {
        "objects": len(gc.get_objects()),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
    }


def count_types() -> Counter[str]:
    """Live objects tracked by the garbage collector, by type name."""
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def print_growing_types(phase: str, before: Counter[str]) -> None:
    """The object types whose count grew the most since `before` (a leak shows here first)."""
    grown = count_types()
    grown.subtract(before)
    print(json.dumps({"phase": phase, "growing_types": dict(grown.most_common(8))}), flush=True)


def is_mark(cycle: int, warm: int, cycles: int) -> bool:
    """Whether to take a snapshot after this cycle."""
    return cycle in (1, warm, cycles) or cycle % MARK_EVERY == 0


def print_cycle_times(phase: str, durations: list[float], warm: int) -> None:
    """The first cycle's time, and the median, 95th percentile and max of the cycles after warm-up."""
    idle = sorted(durations[warm:]) or [0.0]
    print(
        json.dumps(
            {
                "phase": phase,
                "cycle_times": True,
                "first_s": durations[0],
                "median_s": statistics.median(idle),
                "p95_s": idle[int(len(idle) * 0.95)],
                "max_s": idle[-1],
            }
        ),
        flush=True,
    )


def run_on_reactor(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main()` on the installed reactor until it returns; exit 1 with its traceback if it fails."""
    from scrapy.utils.defer import deferred_from_coro
    from twisted.internet import reactor

    failures: list[str] = []
    done = deferred_from_coro(main())
    done.addErrback(lambda failure: failures.append(failure.getTraceback()))
    done.addBoth(lambda _: reactor.stop())
    reactor.run()
    if failures:
        sys.exit(failures[0])


# -- the daemon phase -------------------------------------------------------------------------------


async def measure_cycles(
    phase: str,
    cycles: int,
    warm: int,
    one_cycle: Callable[[int], Coroutine[Any, Any, None]],
    prepare: Callable[[int], None] | None = None,
) -> None:
    """Run the cycles, timing each (not `prepare`, run before it); print RSS snapshots at the marks,
    then the types that grew since the warm-up and the cycle times."""
    started, durations = time.perf_counter(), []
    for cycle in range(1, cycles + 1):
        if prepare is not None:
            prepare(cycle)
        begin = time.perf_counter()
        await one_cycle(cycle)
        durations.append(time.perf_counter() - begin)
        if is_mark(cycle, warm, cycles):
            print(json.dumps(take_snapshot(phase, cycle, started, durations)), flush=True)
        if cycle == warm:
            types = count_types()
    print_growing_types(phase, types)
    print_cycle_times(phase, durations, warm)


async def finish_followups(daemon: Any) -> None:
    """Wait for what follows a crawl in the background (health, adaptive polling, dispatch): in the
    daemon the next crawl of a source comes minutes later; here it would start at once, and the
    follow-ups of back-to-back crawls would pile up."""
    while daemon.followups:
        await asyncio.gather(*list(daemon.followups), return_exceptions=True)


def soak_daemon(config_dir: Path, site: Path, cycles: int, warm: int, new_every: int, overlap: bool) -> None:
    """Build the daemon as run_daemon does, then await its crawl job `cycles` times."""
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from scrapy.utils.log import configure_logging

    from crawler.config import load_config
    from crawler.daemon.logs import configure_logs
    from crawler.runner import build_scrapy_settings
    from scheduler import Daemon, take_lock

    config = load_config(config_dir)
    settings = build_scrapy_settings(config)
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    configure_logging(settings)
    configure_logs(config.settings.log_format)
    daemon = Daemon(config, take_lock(config.database_path()))
    pool, published = paragraphs(), 0

    async def soak() -> None:
        loop = asyncio.get_running_loop()
        # What Daemon.start() sets up for the crawl job, minus the timed jobs: the crawl job exists
        # (adaptive polling reschedules it) but the paused scheduler never runs anything.
        daemon.slots = asyncio.Semaphore(daemon.slot_count)
        daemon.scheduler = AsyncIOScheduler(
            event_loop=loop, timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        daemon._schedule_all(first=True)
        daemon.scheduler.start(paused=True)

        def publish_new(cycle: int) -> None:  # outside the timed cycle
            nonlocal published
            if new_every and cycle > warm and cycle % new_every == 0:
                publish(site, 100_000 + published, pool, 20)
                published += 1

        async def one_cycle(cycle: int) -> None:
            await daemon.crawl(SOURCE)
            if not overlap:
                await finish_followups(daemon)

        await measure_cycles("daemon", cycles, warm, one_cycle, publish_new)
        print(
            json.dumps(
                {
                    "phase": "daemon",
                    "outcomes": {f"{s}:{st}": n for (s, st), n in daemon.counters.crawls.items()},
                    "articles": {o: n for (_, o), n in daemon.counters.articles.items()},
                    "deliveries": dict(daemon.counters.deliveries),
                    "published": published,
                }
            ),
            flush=True,
        )
        await daemon.stop()

    run_on_reactor(soak)


# -- the baseline phase -----------------------------------------------------------------------------


class FeedSpider(scrapy.Spider):
    """Fetch one feed (conditionally when an ETag is known); keep nothing but its status and ETag."""

    name = "bare-feed"

    def __init__(self, url: str = "", etag: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url, self.etag, self.status = url, etag, 0

    async def start(self) -> Any:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        yield scrapy.Request(
            self.url, headers=headers, dont_filter=True, meta={"handle_httpstatus_list": [304]}
        )

    def parse(self, response: scrapy.http.Response) -> None:
        self.status = response.status
        etag = response.headers.get("ETag")
        self.etag = etag.decode("latin-1") if etag else self.etag


def soak_bare(config_dir: Path, cycles: int, warm: int) -> None:
    """The same number of feed fetches by a bare spider on one long-lived AsyncCrawlerRunner."""
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from scrapy.crawler import AsyncCrawlerRunner

    from crawler.config import load_config
    from crawler.runner import build_scrapy_settings, prepare_reactor

    config = load_config(config_dir)
    settings = build_scrapy_settings(config, log_level="ERROR")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    runner = AsyncCrawlerRunner(settings)
    prepare_reactor(runner)  # as the daemon's crawls do
    url = config.sources[0].routes[0].url

    async def soak() -> None:
        etag, statuses = None, Counter()

        async def one_cycle(cycle: int) -> None:
            nonlocal etag
            crawler = runner.create_crawler(FeedSpider)
            await runner.crawl(crawler, url=url, etag=etag)
            etag = crawler.spider.etag
            statuses[crawler.spider.status] += 1

        await measure_cycles("bare", cycles, warm, one_cycle)
        print(json.dumps({"phase": "bare", "statuses": dict(statuses)}), flush=True)

    run_on_reactor(soak)


# -- the parent: serve, run the phases, report ------------------------------------------------------


def run_phase(args: argparse.Namespace, phase: str, config_dir: Path, site: Path) -> tuple[list[dict], str]:
    """Run one phase in a child process; its JSON lines and its stderr (the daemon's log)."""
    command = [
        sys.executable,
        __file__,
        "--child",
        phase,
        "--config",
        str(config_dir),
        "--site",
        str(site),
        "--cycles",
        str(args.cycles),
        "--warm",
        str(args.warm),
        "--new-every",
        str(args.new_every),
    ]
    command += ["--overlap"] if args.overlap else []
    env = {k: v for k, v in os.environ.items() if k != "VEILLE_DB"}
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if out.returncode != 0:
        print(out.stderr[-5000:], file=sys.stderr)
        raise SystemExit(f"phase {phase} failed with exit code {out.returncode}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")], out.stderr


def summarise_log(log: str) -> list[tuple[int, str]]:
    """The daemon's log lines grouped by message with digits and timings blanked, commonest first."""
    shapes = Counter(
        re.sub(r"\d+(\.\d+)?", "N", line.partition(": ")[2] or line)[:110]
        for line in log.splitlines()
        if line.strip()
    )
    return [(n, shape) for shape, n in shapes.most_common(6)]


def report(args: argparse.Namespace, bare: list[dict], daemon: list[dict], log: str, emails: int) -> None:
    """Print memory growth, CPU per idle cycle, throughput and the daemon / bare ratios."""
    kind = "idle" if not args.new_every else "mixed"  # with --new-every, some cycles store an article
    figures = {}
    for name, lines in (("bare", bare), ("daemon", daemon)):
        marks = {line["cycle"]: line for line in lines if "cycle" in line}
        warm, end = marks[args.warm], marks[args.cycles]
        idle = args.cycles - args.warm
        cpu = (end["cpu_s"] + end["worker_cpu_s"] - warm["cpu_s"] - warm["worker_cpu_s"]) / idle
        times = next(line for line in lines if line.get("cycle_times"))
        figures[name] = {
            "rate": idle / (end["seconds"] - warm["seconds"]),
            "cpu_ms": cpu * 1000,
            "growth": end["rss_mb"] - warm["rss_mb"],
            "times": times,
        }
        trend = " ".join(f"{c}:{m['rss_mb']:.1f}" for c, m in sorted(marks.items()))
        pace = " ".join(f"{c}:{m['recent_median_ms']:.1f}" for c, m in sorted(marks.items()) if c >= 100)
        print(
            f"{name:<6} RSS after cycle {args.warm} {warm['rss_mb']:.1f} MB, after {args.cycles} "
            f"{end['rss_mb']:.1f} MB: growth {figures[name]['growth']:+.1f} MB; peak "
            f"{end['peak_rss_mb']:.0f} MB"
            + (f" + worker {end['worker_rss_mb']:.0f} MB" if end["worker_rss_mb"] else "")
        )
        print(f"{name:<6} RSS by cycle (MB): {trend}")
        print(f"{name:<6} median cycle time of the last {MARK_EVERY} cycles (ms): {pace}")
        grown = next(line["growing_types"] for line in lines if "growing_types" in line)
        print(
            f"{name:<6} objects {warm['objects']} -> {end['objects']}, fds {warm['fds']} -> {end['fds']}, "
            f"threads {warm['threads']} -> {end['threads']}; most grown types "
            + ", ".join(f"{t} {n:+}" for t, n in grown.items() if n > 0)
        )
        print(
            f"{name:<6} {figures[name]['rate']:.1f} {kind} cycles/s; CPU {figures[name]['cpu_ms']:.1f} ms "
            f"per {kind} cycle; cycle time median {times['median_s'] * 1000:.1f} ms, p95 "
            f"{times['p95_s'] * 1000:.1f} ms, max {times['max_s'] * 1000:.1f} ms; first cycle "
            f"{times['first_s']:.2f} s"
        )
    extra = next(line for line in daemon if "outcomes" in line)
    bare_statuses = next(line for line in bare if "statuses" in line)["statuses"]
    print(
        f"daemon crawl outcomes {extra['outcomes']}, articles {extra['articles']}, deliveries "
        f"{extra['deliveries']}, emails received {emails}, articles published during the soak "
        f"{extra['published']}; bare HTTP statuses {bare_statuses}"
    )
    lines = [line for line in log.splitlines() if line.strip()]
    print(f"daemon log: {len(lines)} lines ({len(lines) / args.cycles:.2f} per cycle); commonest:")
    for n, shape in summarise_log(log):
        print(f"  {n:>6}  {shape}")
    if "Traceback" in log:
        start = log.index("Traceback")
        print(
            f"daemon log: {log.count('Traceback')} tracebacks; the first, and the line before it:\n"
            + log[log.rfind("\n", 0, log.rfind("\n", 0, start)) + 1 : start]
            + log[start : start + 3000]
        )
    d, b = figures["daemon"], figures["bare"]
    print(
        f"daemon / bare: CPU per {kind} cycle {d['cpu_ms'] / b['cpu_ms']:.2f}x, {kind} cycles/s "
        f"{d['rate'] / b['rate']:.0%}, RSS growth {d['growth']:+.1f} MB vs {b['growth']:+.1f} MB"
    )
    verdict = "met" if d["growth"] <= 20 else "MISSED"
    print(
        f"RSS growth over {args.cycles - args.warm} cycles: {d['growth']:+.1f} MB (target 20 MB or less: "
        f"{verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="crawl cycles per phase")
    parser.add_argument("--articles", type=int, default=20, help="articles in the feed")
    parser.add_argument("--warm", type=int, default=10, help="cycles before the 'start' RSS reading")
    parser.add_argument(
        "--new-every",
        type=int,
        default=0,
        help="publish a new article every N cycles after the warm-up (0: never)",
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="do not wait for a crawl's follow-ups: the next crawl overlaps the previous "
        "one's health chore and dispatch (a stress test of concurrent writers)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the site, config and database in this new "
        "directory and keep them (default: a temporary directory)",
    )
    parser.add_argument("--child", choices=("bare", "daemon"))
    parser.add_argument("--config", type=Path)
    parser.add_argument("--site", type=Path)
    args = parser.parse_args()
    if args.child == "bare":
        soak_bare(args.config, args.cycles, args.warm)
        return
    if args.child == "daemon":
        soak_daemon(args.config, args.site, args.cycles, args.warm, args.new_every, args.overlap)
        return
    from tests.miniweb import MiniWeb
    from tests.servers import SmtpServer

    with tempfile.TemporaryDirectory() as temporary:
        tmp = args.keep or temporary
        site = build_site(Path(tmp) / "web", args.articles)
        smtp = SmtpServer().start()
        try:
            with MiniWeb(Path(tmp) / "web") as web:
                config = Path(tmp) / "config"
                write_config(config, web.base(SOURCE), smtp.port)
                bare, _ = run_phase(args, "bare", config, site)
                daemon, log = run_phase(args, "daemon", config, site)
        finally:
            smtp.stop()
        if args.keep:
            (args.keep / "daemon.log").write_text(log, "utf-8")
    for line in bare + daemon:
        print(json.dumps(line))
    report(args, bare, daemon, log, len(smtp.mailbox.messages))


if __name__ == "__main__":
    main()
