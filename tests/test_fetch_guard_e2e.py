"""Where the crawler may go, end to end: a real `veille crawl` against real local servers whose feed
links to a local file, to another host's internal service, by address and by name, and through a
redirect. Only http(s) is fetched, and only the addresses the config allows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.servers import PageServer

pytestmark = pytest.mark.slow

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


def feed(links: list[str]) -> bytes:
    items = "".join(
        f"<item><title>item {i}</title><link>{link}</link>"
        f"<pubDate>Mon, 30 Nov 2026 0{i}:00:00 +0000</pubDate></item>"
        for i, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>x</link>'
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
def canaries() -> tuple[PageServer, PageServer]:
    """Internal services nothing may reach: one on another loopback address, one on 127.0.0.1
    reached by the name localhost."""
    inside = PageServer(
        {"/internal": (200, {"Content-Type": "text/html"}, article("CANARY-BY-ADDRESS"))}, host="127.0.0.2"
    )
    named = PageServer({"/internal": (200, {"Content-Type": "text/html"}, article("CANARY-BY-NAME"))})
    yield inside, named
    inside.stop()
    named.stop()


def crawl(tmp_path: Path, sources: str, settings: str = "") -> subprocess.CompletedProcess:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "settings.yaml").write_text("download_delay: 0\ntimeout: 5\nretries: 0\n" + settings, "utf-8")
    (config / "sources.yaml").write_text(sources, "utf-8")
    env = dict(os.environ, VEILLE_DB=str(tmp_path / "v.db"))
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "--no-alerts"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_feed_cannot_make_the_crawler_read_files_or_reach_internal_hosts(
    tmp_path: Path, canaries: tuple[PageServer, PageServer]
) -> None:
    inside, named = canaries
    secret = tmp_path / "secret.html"
    secret.write_bytes(article("SECRET-FILE"))
    site = PageServer()
    port = named.base.rsplit(":", 1)[1]
    site.pages.update(
        {
            "/feed": (
                200,
                {"Content-Type": "application/rss+xml"},
                feed(
                    [
                        f"file://localhost{secret}",
                        f"{inside.base}/internal",
                        f"http://localhost:{port}/internal",
                        f"{site.base}/out",
                        f"{site.base}/good-1",
                    ]
                ),
            ),
            "/out": (302, {"Location": f"{inside.base}/internal"}, b""),
            "/good-1": (200, {"Content-Type": "text/html; charset=utf-8"}, article("Un bon article")),
        }
    )
    try:
        result = crawl(
            tmp_path,
            f"sources:\n  - name: intranet\n    languages: [fr]\n"
            f"    feeds: ['{site.base}/feed']\n    allow_private_addresses: true\n",
        )
    finally:
        site.stop()
    assert inside.hits == [] and named.hits == [], result.stderr
    assert "/good-1" in site.hits and "/out" in site.hits
    db = Database(tmp_path / "v.db")
    assert [r["title"] for r in db.query("SELECT title FROM articles")] == ["Un bon article"]
    assert not list(db.query("SELECT id FROM articles WHERE body LIKE '%CANARY%' OR title LIKE '%SECRET%'"))
    errors = {r["url"]: r["last_error"] for r in db.query("SELECT url, last_error FROM page_failures")}
    assert errors[f"{inside.base}/internal"] == (
        f"article {inside.base}/internal: refused: 127.0.0.2 is a loopback address (hint: Veille fetches "
        "public addresses only; for an intranet site set allow_private_addresses: true on its source in sources.yaml)"
    )
    assert errors[f"http://localhost:{port}/internal"].startswith(
        f"article http://localhost:{port}/internal: refused: localhost resolves to 127.0.0.1, a loopback address"
    )
    # The redirect's hop is refused, and named.
    assert errors[f"{site.base}/out"].startswith(
        f"article {inside.base}/internal: refused: 127.0.0.2 is a loopback"
    )
    (run,) = db.query("SELECT status, error FROM crawl_runs")
    assert run["status"] == "partial"
    assert (
        f"article file://localhost{secret}: refused: file scheme, only http and https URLs are fetched"
        in run["error"]
    )
    assert "intranet (partial): article" in result.stdout


def test_by_default_a_private_site_is_refused_before_any_request_even_robots_txt(tmp_path: Path) -> None:
    site = PageServer({"/feed": (200, {"Content-Type": "application/rss+xml"}, feed([]))})
    try:
        result = crawl(
            tmp_path, f"sources:\n  - name: local\n    languages: [fr]\n    feeds: ['{site.base}/feed']\n"
        )
    finally:
        site.stop()
    assert site.hits == []
    assert result.returncode == 1
    assert (
        "refused: 127.0.0.1 is a loopback address (hint: Veille fetches public addresses only"
        in result.stdout
    )


def test_the_settings_switch_allows_every_private_address(
    tmp_path: Path, canaries: tuple[PageServer, PageServer]
) -> None:
    inside, _ = canaries
    site = PageServer(
        {"/feed": (200, {"Content-Type": "application/rss+xml"}, feed([f"{inside.base}/internal"]))}
    )
    try:
        result = crawl(
            tmp_path,
            f"sources:\n  - name: local\n    languages: [fr]\n    feeds: ['{site.base}/feed']\n",
            "allow_private_addresses: true\n",
        )
    finally:
        site.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert inside.hits == ["/robots.txt", "/internal"]
