"""Alert latency benchmark: from an article appearing on a site to its email reaching the SMTP server.

Why: an instant alert is only as quick as the daemon's polling, crawling and dispatching together.
The target: at the median, no more than the poll interval plus 5 seconds.

How: the real daemon runs as a child process (`python -m crawler.cli --config DIR run --log-format
json`, VEILLE_DB in a temporary directory) against a news site served on 127.0.0.1 by tests/miniweb.py,
with an aiosmtpd server in this process. The source is polled `every: --interval` (60 s by default,
with the daemon's 10% jitter; adaptive polling off), at the shipped politeness (1.5 s between two
requests to the site); one topic matches every article and one watcher gets instant emails. Once the
first crawl's alerts have arrived, --samples new articles are published one at a time, each after a
random wait in [0, interval) so it lands at a random moment of the polling cycle: the article page,
then the feed with it on top (MiniWeb.put). Each sample is the time from the feed's publication to the
email's arrival, timed by the SMTP server. The daemon's JSON log splits it in three: waiting for the
next poll, the crawl, and crawl end to email (dispatch).

Baseline, from the same events: an ideal poller with the same poll moments and zero cost, whose
latency is the wait for the poll alone (its median tends to interval / 2). Printed: each sample, the
median and max, the ratio to the baseline and the ratio median / (interval + 5 s), the target. The
daemon is stopped with SIGTERM and must exit 0.

Usage: python bench/latency.py [--samples 5] [--interval 60] [--articles 10] [--delay 1.5] [--seed 7]
       (a quick run: --interval 10 --samples 3)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crawl import paragraphs  # noqa: E402
from bench.soak import build_site, feed_text, make_article  # noqa: E402
from tests.miniweb import MiniWeb  # noqa: E402
from tests.servers import Mailbox, SmtpServer  # noqa: E402

SITE = "news"
TERM = "المقال"  # every generated body ends with "رقم المقال N.": every article matches the topic
CRAWL_LINE = re.compile(rf"crawl {SITE}: .*? errors in (\d+(?:\.\d+)?)s")  # the daemon's line per crawl


@dataclass
class TimedMailbox(Mailbox):
    """A mailbox that also records when each message arrived (wall clock, as the daemon logs)."""

    arrivals: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.arrivals.append(time.time())
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Sample:
    """One published article and what became of it."""

    number: int
    waited: float  # the random wait before publishing, s
    published: float  # wall clock
    arrived: float | None = None
    crawl_start: float | None = None
    crawl_end: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.arrived is None else self.arrived - self.published


def write_config(directory: Path, base: str, smtp_port: int, interval: int, delay: float) -> None:
    """One source polled every `interval` seconds, one topic matching everything, one instant watcher."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.yaml").write_text(
        f'sources:\n  - name: {SITE}\n    languages: [ar]\n    feeds: ["{base}/feed.xml"]\n'
        f"    schedule: {{every: {interval}s}}\n"
    )
    (directory / "settings.yaml").write_text(
        f"download_delay: {delay}\ntimeout: 10\nretries: 0\nmin_interval: 1s\nadaptive_polling: false\n"
        f"dispatch_interval: 30s\nstartup_spread: 1s\nallow_private_addresses: true\n"
        f"smtp_host: 127.0.0.1\nsmtp_port: {smtp_port}\nsmtp_tls: none\n",
        "utf-8",
    )
    (directory / "keywords.yaml").write_text(f"topics:\n  - name: news\n    any: [{TERM}]\n", "utf-8")
    (directory / "watchers.yaml").write_text(
        "watchers:\n  - name: desk\n    topics: [news]\n    email: [desk@example.ma]\n    mode: instant\n"
    )


def start_daemon(config: Path, db: Path, log: Path) -> subprocess.Popen:
    """`veille run` in a child process, its JSON log lines going to `log`."""
    env = dict(os.environ, VEILLE_DB=str(db))
    command = [sys.executable, "-m", "crawler.cli", "--config", str(config), "run", "--log-format", "json"]
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_daemon(daemon: subprocess.Popen) -> int:
    """SIGTERM, then its exit code (SIGKILL after 60 s: a daemon that will not stop is a finding)."""
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        return -9


def wait_until(check: Any, timeout: float, what: str, daemon: subprocess.Popen) -> None:
    """Poll `check()` every 20 ms; fail after `timeout` seconds or when the daemon dies."""
    deadline = time.time() + timeout
    while not check():
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited with code {daemon.returncode} while waiting for {what}")
        if time.time() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def email_arrival(mailbox: TimedMailbox, marker: str) -> float | None:
    """When the email whose text mentions `marker` (the article's URL path) arrived, if it did."""
    for message, arrived in zip(list(mailbox.messages), list(mailbox.arrivals), strict=False):
        part = message.get_body(("plain",))
        if part is not None and marker in part.get_content():
            return arrived
    return None


def publish_and_time(
    web: MiniWeb,
    mailbox: TimedMailbox,
    items: list,
    sample: Sample,
    pool: list[str],
    timeout: float,
    daemon: subprocess.Popen,
) -> None:
    """Publish the sample's article (page first, then the feed) and wait for its email."""
    title, page = make_article(sample.number, pool, time.time())
    web.put(SITE, f"/a/{sample.number}.html", page)
    items.insert(0, (sample.number, title, time.time()))
    sample.published = time.time()
    web.put(SITE, "/feed.xml", feed_text(items))
    marker = f"/a/{sample.number}.html"
    try:
        wait_until(
            lambda: email_arrival(mailbox, marker) is not None,
            timeout,
            f"the email of article {sample.number}",
            daemon,
        )
    except SystemExit as exc:
        print(f"sample {sample.number}: {exc}", file=sys.stderr)
        return
    sample.arrived = email_arrival(mailbox, marker)


def read_crawls(log: Path) -> tuple[list[tuple[float, float, str]], list[dict]]:
    """The daemon's crawls as (start, end, message) from its JSON log, and every log entry."""
    entries, crawls = [], []
    for line in log.read_text("utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"level": "RAW", "message": line}
        entries.append(entry)
        message = entry.get("message", "")
        took = CRAWL_LINE.match(message)
        if took:
            end = datetime.fromisoformat(entry["time"]).timestamp()
            crawls.append((end - float(took.group(1)), end, message))
    return crawls, entries


def attribute_crawls(samples: list[Sample], crawls: list[tuple[float, float, str]]) -> None:
    """Each sample's crawl: the first one that ended after its publication and found something new."""
    for sample in samples:
        for start, end, message in crawls:
            if end > sample.published and ", 0 new" not in message:
                sample.crawl_start, sample.crawl_end = start, end
                break


def report(
    samples: list[Sample],
    interval: int,
    exit_code: int,
    entries: list[dict],
    crawls: list[tuple[float, float, str]],
) -> None:
    """Each sample, then median and max, the ratio to the baseline and to the target."""
    print("article  random wait  poll wait    crawl  crawl end to email    total")
    for s in samples:
        if s.latency is None:
            print(f"{s.number:>7}  {s.waited:>9.1f} s  no email")
            continue
        wait = (s.crawl_start - s.published) if s.crawl_start else float("nan")
        crawl = (s.crawl_end - s.crawl_start) if s.crawl_start else float("nan")
        dispatch = (s.arrived - s.crawl_end) if s.crawl_end else float("nan")
        print(
            f"{s.number:>7}  {s.waited:>9.1f} s {wait:>8.1f} s {crawl:>6.1f} s {dispatch:>16.2f} s "
            f"{s.latency:>6.1f} s"
        )
    done = [s for s in samples if s.latency is not None]
    if not done:
        print("no email arrived: no figures")
        return
    latencies = [s.latency for s in done]
    median, worst = statistics.median(latencies), max(latencies)
    ideal = [max(0.0, s.crawl_start - s.published) for s in done if s.crawl_start]
    baseline = statistics.median(ideal) if ideal else float("nan")
    polls = [b[0] - a[0] for a, b in itertools.pairwise(crawls)]
    print(
        f"{len(done)}/{len(samples)} emails; latency median {median:.1f} s, max {worst:.1f} s, "
        f"min {min(latencies):.1f} s"
    )
    own = [s.arrived - s.crawl_start for s in done if s.crawl_start]
    ratio = f"{median / baseline:.2f}x" if baseline > 0 else "n/a"
    print(
        f"baseline (an ideal poller: the wait for the same polls, zero cost): median {baseline:.1f} s; "
        f"daemon / baseline {ratio}; daemon's own share (crawl + dispatch) median "
        f"{statistics.median(own) if own else float('nan'):.1f} s"
    )
    print(
        f"polls: {len(crawls)} crawls, interval between crawl starts {min(polls):.1f}-{max(polls):.1f} s "
        f"(configured {interval} s with up to {min(60, interval // 10)} s jitter)"
        if polls
        else ""
    )
    levels = Counter(entry.get("level") for entry in entries)
    print(
        f"daemon log: {len(entries)} lines by level {dict(levels)}; exit code after SIGTERM {exit_code}"
        f" ({'clean' if exit_code == 0 else 'NOT clean'})"
    )
    for entry in entries:
        if entry.get("level") in ("WARNING", "ERROR", "CRITICAL", "RAW"):
            print(f"  {entry.get('level')}: {entry.get('message', '')[:160]}")
    print(f"first crawl (throughput at the configured politeness): {crawls[0][2] if crawls else 'none'}")
    me = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"daemon and its extraction worker: peak RSS of the larger {me.ru_maxrss / 1024:.0f} MB, CPU "
        f"{me.ru_utime + me.ru_stime:.1f} s in all over the {crawls[-1][1] - crawls[0][0]:.0f} s run"
    )
    target = interval + 5
    print(
        f"median / (interval + 5 s) = {median:.1f} / {target} = {median / target:.2f} "
        f"(target: 1.00 or less: {'met' if median <= target else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="articles published one at a time")
    parser.add_argument("--interval", type=int, default=60, help="the source's poll interval, s")
    parser.add_argument("--articles", type=int, default=10, help="articles already on the site")
    parser.add_argument("--delay", type=float, default=1.5, help="download_delay (the shipped default)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random waits")
    args = parser.parse_args()
    rng, pool = random.Random(args.seed), paragraphs()
    with tempfile.TemporaryDirectory() as tmp:
        build_site(Path(tmp) / "web", args.articles, SITE)
        now = time.time()  # the feed's items as build_site wrote them (titles and dates)
        items = [
            (n, make_article(n, pool)[0], now - (args.articles - n) * 1800) for n in range(args.articles)
        ]
        smtp = SmtpServer()
        smtp.mailbox = mailbox = TimedMailbox()
        smtp.start()
        log = Path(tmp) / "daemon.log"
        samples: list[Sample] = []
        try:
            with MiniWeb(Path(tmp) / "web") as web:
                write_config(Path(tmp) / "config", web.base(SITE), smtp.port, args.interval, args.delay)
                daemon = start_daemon(Path(tmp) / "config", Path(tmp) / "latency.db", log)
                try:
                    wait_until(
                        lambda: len(mailbox.messages) >= args.articles,
                        180,
                        "the first crawl's alerts",
                        daemon,
                    )
                    print(
                        f"first crawl done, {len(mailbox.messages)} alerts received; publishing "
                        f"{args.samples} articles",
                        file=sys.stderr,
                    )
                    for k in range(args.samples):
                        sample = Sample(10_000 + k, rng.uniform(0, args.interval), 0.0)
                        time.sleep(sample.waited)
                        publish_and_time(web, mailbox, items, sample, pool, 3 * args.interval + 60, daemon)
                        samples.append(sample)
                        print(
                            f"sample {k + 1}/{args.samples}: "
                            + (f"{sample.latency:.1f} s" if sample.latency is not None else "no email"),
                            file=sys.stderr,
                        )
                finally:
                    exit_code = stop_daemon(daemon)
        finally:
            smtp.stop()
        crawls, entries = read_crawls(log)
    attribute_crawls(samples, crawls)
    report(samples, args.interval, exit_code, entries, crawls)


if __name__ == "__main__":
    main()
