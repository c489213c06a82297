"""A feed of 12,000 items is parsed in a worker, end to end: a real `veille crawl` against real local
servers stores its newest articles (listed last in the document), while another source, whose
first page is answered only after the big feed was sent, walks its five listing pages, each
requested once the reactor has read the one before: all five come before the big feed's first
article, which is asked for once its parse ends. Parsed on the reactor, the big feed stopped that
walk until it was done."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlite_utils import Database

pytestmark = pytest.mark.slow
OLD, NEW, PAGES = 12_000, 3, 5
BODY = (
    "<p>Le Maroc investit dans l’intelligence artificielle pour ses écoles, ses hôpitaux et ses "
    "administrations, annonce le ministère dans un communiqué publié ce lundi.</p>"
) * 3


def article(title: str) -> bytes:
    return (
        f"<html><head><title>{title}</title><meta property='og:title' content='{title}'>"
        "<meta property='article:published_time' content='2026-11-30T08:00:00Z'></head>"
        f"<body><article><h1>{title}</h1>{BODY}</article></body></html>"
    ).encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS feed of (title, link, RFC 822 date) items, in that order."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate></item>" for t, link, d in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>x</link>{body}</channel></rss>'.encode()


def date(day: int, minute: int = 0) -> str:
    import datetime as dt

    return format_datetime(dt.datetime(2026, 11, day, 0, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minute))


class Site:
    """An HTTP server on a loopback address: path -> (content type, body); it records each request
    in a log shared with other sites, can hold a path until an event is set, and sets `sent` once
    the path named `signals` is sent."""

    def __init__(self, name: str, host: str, log: list[tuple[str, str]], lock: threading.Lock) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.hold: dict[str, threading.Event] = {}
        self.signals, self.sent = "", threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    log.append((name, self.path))
                if self.path in site.hold:
                    site.hold[self.path].wait(60)
                    time.sleep(0.3)  # the crawler has the big feed by now
                kind, body = site.pages.get(self.path, ("text/plain", b"not found"))
                self.send_response(200 if self.path in site.pages else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if self.path == site.signals:
                    site.sent.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.base = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_huge_feed_is_parsed_off_the_reactor_and_its_newest_articles_are_stored(tmp_path: Path) -> None:
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    big, small = Site("big", "127.0.0.1", log, lock), Site("small", "127.0.0.2", log, lock)
    try:
        # Old items first, the newest at the end: "newest" is by date, not by place in the document.
        items = [(f"Ancien {i}", f"{big.base}/old-{i}", date(1, i)) for i in range(OLD)]
        items += [(f"Nouveau {i}", f"{big.base}/new-{i}", date(29, i)) for i in range(NEW)]
        big.pages["/feed"] = ("application/rss+xml", rss(items))
        for i in range(NEW):
            big.pages[f"/new-{i}"] = ("text/html; charset=utf-8", article(f"Nouvel article {i}"))
        big.signals = "/feed"
        for page in range(1, PAGES + 1):
            links = f"<a class='art' href='/petit-{page}'>Petit {page}</a><a class='next' href='/list-{page + 1}'>»</a>"
            small.pages[f"/list-{page}"] = (
                "text/html; charset=utf-8",
                f"<html><body>{links}</body></html>".encode(),
            )
            small.pages[f"/petit-{page}"] = ("text/html; charset=utf-8", article(f"Petit article {page}"))
        small.hold["/list-1"] = big.sent  # answered once the big feed is on its way to the crawler
        result = crawl(tmp_path, big.base, small.base)
    finally:
        big.stop()
        small.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    db = Database(tmp_path / "v.db")
    titles = sorted(r["title"] for r in db.query("SELECT title FROM articles"))
    assert titles == [f"Nouvel article {i}" for i in range(NEW)] + [
        f"Petit article {p}" for p in range(1, PAGES + 1)
    ]
    requested = [entry for entry in log if entry[1] != "/robots.txt"]
    assert not any(path.startswith("/old-") for _, path in requested)
    first_big_article = next(i for i, (name, path) in enumerate(requested) if path.startswith("/new-"))
    assert requested.index(("small", f"/list-{PAGES}")) < first_big_article, requested
    assert f"lists {OLD + NEW} items (" in result.stderr
    assert "read in a worker in" in result.stderr and f"only the newest {NEW} are considered" in result.stderr


def crawl(tmp_path: Path, big: str, small: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.yaml").write_text(
        f"download_delay: 0\ntimeout: 30\nretries: 0\nallow_private_addresses: true\n"
        f"max_articles_per_route: {NEW}\nextract_workers: 1\n",
        "utf-8",
    )
    (config / "sources.yaml").write_text(
        "sources:\n"
        f"  - name: big\n    languages: [fr]\n    feeds: ['{big}/feed']\n"
        f"  - name: small\n    languages: [fr]\n    listings:\n"
        f"      - {{url: '{small}/list-1', links: 'a.art', next: 'a.next', pages: {PAGES}}}\n",
        "utf-8",
    )
    env = dict(os.environ, VEILLE_DB=str(tmp_path / "v.db"))
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "--no-alerts", "-v"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
