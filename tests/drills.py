"""Kill drills against the real daemon: a news site that keeps publishing, a real webhook receiver,
and `veille run` killed with SIGKILL at chosen moments, then restarted. Used by
tests/test_kill_drill.py (a few kills) and bench/drills.py (a hundred, and an hour-long run).

Every process the daemon starts inherits a marker in its environment, so a drill finds the ones
that outlived a kill (orphans) by reading /proc, whatever they are.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.servers import WebhookReceiver

MARKER = "VEILLE_DRILL"
ROOT = Path(__file__).resolve().parent.parent
SETTINGS = """default_schedule: 2s
min_interval: 1s
startup_spread: 1s
dispatch_interval: 1s
download_delay: 0
timeout: 10
retries: 0
extract_workers: 1
delivery_timeout: 5
lease_seconds: 30
allow_private_addresses: true
obey_robots_txt: false
"""
KILL_POINTS = ("first-article-request", "mid-batch", "mid-send")


class NewsSite:
    """A site whose feed lists the articles published so far, newest first; each article page
    names Jazari (the drill's topic) in a text of its own, so no two join one story."""

    def __init__(self) -> None:
        self.published = 0
        self.requests: list[str] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site.lock:
                    site.requests.append(self.path)
                status, kind, body = site.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def publish(self, count: int) -> None:
        """Put `count` more articles in the feed."""
        with self.lock:
            self.published += count

    def article_requests(self) -> int:
        with self.lock:
            return sum(1 for path in self.requests if path.startswith("/a-"))

    def answer(self, path: str) -> tuple[int, str, bytes]:
        start = datetime(2026, 12, 1, tzinfo=UTC)
        if path == "/feed":
            items = "".join(
                f"<item><title>Jazari {n}</title><link>{self.base}/a-{n}</link><guid>{self.base}/a-{n}</guid>"
                f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate></item>"
                for n in range(self.published, 0, -1)
            )
            feed = f"<?xml version='1.0'?><rss version='2.0'><channel><title>drill</title>{items}</channel></rss>"
            return 200, "application/rss+xml", feed.encode()
        if path.startswith("/a-") and path[3:].isdigit() and 0 < int(path[3:]) <= self.published:
            n = int(path[3:])
            words = " ".join(f"mot{(n * 7919 + k * 104729) % 100003}" for k in range(120))
            page = (
                f"<html><head><title>Jazari {n}</title><meta property='article:published_time' "
                f"content='{(start + timedelta(minutes=n)).isoformat()}'></head><body><article>"
                f"<h1>L'institut Jazari, article {n}</h1><p>L'institut Jazari publie son rapport numéro {n}. "
                f"{words}</p><p>Fin de l'article {n}, qui ne ressemble à aucun autre.</p></article></body></html>"
            )
            return 200, "text/html; charset=utf-8", page.encode()
        return 404, "text/plain", b"not found"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Kill:
    """One SIGKILL: where, and the processes of the daemon still alive a few seconds later."""

    point: str
    reached: bool
    orphans: list[int] = field(default_factory=list)


@dataclass
class Drill:
    """A config directory, an archive, the site, the receiver, and the daemon as a child process."""

    directory: Path
    site: NewsSite = field(default_factory=NewsSite)
    hook: WebhookReceiver = field(default_factory=WebhookReceiver)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    proc: subprocess.Popen | None = None
    kills: list[Kill] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = self.directory / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "settings.yaml").write_text(SETTINGS, "utf-8")
        (config / "sources.yaml").write_text(
            f"sources:\n  - name: drill\n    languages: [fr]\n    feeds: ['{self.site.base}/feed']\n", "utf-8"
        )
        (config / "keywords.yaml").write_text("topics:\n  - name: jazari\n    any: [Jazari]\n", "utf-8")
        (config / "watchers.yaml").write_text(
            "watchers:\n  - name: w\n    topics: [jazari]\n"
            f"    webhook: {{url: '{self.hook.url}', secret: '${{DRILL_SECRET}}'}}\n",
            "utf-8",
        )
        self.config = config
        self.db = self.directory / "veille.db"
        self.log = self.directory / "daemon.log"

    def start(self) -> None:
        """Start `veille run`, its processes marked in their environment."""
        env = dict(os.environ, VEILLE_DB=str(self.db), DRILL_SECRET="k", **{MARKER: self.token})
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "crawler.cli", "--config", str(self.config), "run"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def kill_at(self, point: str, publish: int = 5, timeout: float = 60) -> Kill:
        """Publish `publish` articles, start the daemon, SIGKILL it at `point`, and look for orphans."""
        before_pages, before_sends = self.site.article_requests(), len(self.hook.requests)
        self.hook.delay = 3 if point == "mid-send" else 0  # a send in flight while the daemon dies
        self.site.publish(publish)
        self.start()
        reach: Callable[[], bool] = {
            "first-article-request": lambda: self.site.article_requests() > before_pages,
            "mid-batch": lambda: self.site.article_requests() >= before_pages + max(publish // 2, 1),
            "mid-send": lambda: len(self.hook.requests) > before_sends,
        }[point]
        reached = wait(reach, timeout)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        kill = Kill(point, reached, self.orphans(deadline=5))
        for pid in kill.orphans:  # so that the next round starts clean and counts its own
            _kill(pid)
        self.hook.delay = 0
        self.kills.append(kill)
        return kill

    def orphans(self, deadline: float) -> list[int]:
        """The marked processes still alive after `deadline` seconds (the kernel needs a moment)."""
        end = time.monotonic() + deadline
        while True:
            found = marked(self.token)
            if not found or time.monotonic() >= end:
                return found
            time.sleep(0.1)

    def settle(self, timeout: float = 120) -> None:
        """Run the daemon until every published article is archived and every alert received, then
        stop it with SIGTERM."""
        self.hook.delay = 0
        self.start()
        done = wait(lambda: self.archived() >= self.site.published and self.undelivered() == 0, timeout)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        if not done:
            raise AssertionError(
                f"after {timeout:.0f}s: {self.archived()} of {self.site.published} articles archived, "
                f"{self.undelivered()} deliveries not received; log:\n{self.log.read_text('utf-8')[-3000:]}"
            )

    def archived(self) -> int:
        return len(self.query("SELECT DISTINCT url FROM articles WHERE source = 'drill'"))

    def undelivered(self) -> int:
        received = set(self.received())
        owed = {r[0] for r in self.query("SELECT id FROM deliveries")}
        return len(owed - received) + max(self.site.published - len(owed), 0)

    def received(self) -> Counter[str]:
        return Counter(headers["X-Veille-Delivery"] for headers, _ in self.hook.requests)

    def report(self) -> dict[str, int]:
        """Kills, lost articles, duplicate receipts and orphans, for an assertion or a printout."""
        urls = {r[0] for r in self.query("SELECT url FROM articles WHERE source = 'drill'")}
        published = {f"{self.site.base}/a-{n}" for n in range(1, self.site.published + 1)}
        counts = self.received()
        return {
            "kills": len(self.kills),
            "reached": sum(k.reached for k in self.kills),
            "published": len(published),
            "lost": len(published - urls),
            "undelivered": self.undelivered(),
            "received": sum(counts.values()),
            "duplicates": sum(n - 1 for n in counts.values()),
            "orphans": sum(len(k.orphans) for k in self.kills),
        }

    def query(self, sql: str) -> list[tuple]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # no schema yet
            return []
        finally:
            conn.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in marked(self.token):
            _kill(pid)
        self.site.stop()
        self.hook.stop()


def marked(token: str) -> list[int]:
    """The live processes whose environment carries the drill's marker."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


def wait(check: Callable[[], object], timeout: float) -> bool:
    """Poll `check` until it is true; False after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return False


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
