"""End to end, `veille crawl` against the mini web: an article changed at its source is updated in
place with its history, and a source's fallbacks are tried in order until one works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_utils import Database

from tests.miniweb import MiniWeb

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
SITEMAP = "/arc/outboundfeeds/sitemap-news/"
ARTICLE = "/culture/la-4e-edition-de-wikiarabia-a-marrakech-du-4-au-6-octobre_U6LUQJUFCALSJZBOMPLNPYMK2H/"
SOURCES = """sources:
  - name: arc-fr
    languages: [fr]
    sitemaps: ["{{BASE:arc-fr}}/arc/outboundfeeds/sitemap-news/"]
  - name: falls-back
    languages: [ar]
    feeds: ["{{BASE:faults}}/status/404"]
    fallbacks:
      - feed: "{{BASE:faults}}/status/500"
      - sitemap: "{{BASE:faults}}/no-such-sitemap.xml"
      - feed: "{{BASE:wp-ar}}/feed"
"""


@pytest.fixture(scope="module")
def web() -> MiniWeb:
    with MiniWeb(FIXTURES / "web") as web:
        yield web


@pytest.fixture(scope="module")
def config(web: MiniWeb, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("config")
    (directory / "sources.yaml").write_text(web.render(SOURCES), "utf-8")
    (directory / "settings.yaml").write_text((FIXTURES / "config" / "settings.yaml").read_text("utf-8"))
    (directory / "keywords.yaml").write_text("topics:\n  - name: ia\n    any: [IA]\n    exact_case: [IA]\n")
    (directory / "watchers.yaml").write_text("watchers: []\n")
    return directory


def crawl(config: Path, *sources: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VEILLE_DB=str(config / "veille.db"))
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "--no-alerts", *sources],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def row(output: str, source: str) -> list[str]:
    """The summary table's cells for one source."""
    line = next(line for line in output.splitlines() if line.split()[:1] == [source])
    return line.split()


def test_a_changed_article_is_updated_in_place_and_its_old_version_kept(web: MiniWeb, config: Path) -> None:
    assert crawl(config, "arc-fr").returncode == 0
    db = Database(config / "veille.db")
    [before] = db.query("SELECT id, title, body, version FROM articles WHERE url LIKE ?", [f"%{ARTICLE}"])
    sitemap = web.render((FIXTURES / "web" / "arc-fr" / SITEMAP.strip("/") / "index.xml").read_text("utf-8"))
    page = (FIXTURES / "web" / "arc-fr" / ARTICLE.strip("/") / "index.html").read_text("utf-8")
    web.put("arc-fr", SITEMAP, sitemap.replace("2019-09-27T15:05:00.000Z", "2019-09-28T09:00:00.000Z"))
    web.put(
        "arc-fr",
        ARTICLE,
        web.render(page)
        .replace("WikiArabia", "WikiArabia (IA)", 1)
        .replace("</p>", " Une session sera consacrée à l'IA.</p>", 1),
    )
    web.clear_log()
    second = crawl(config, "arc-fr")
    assert second.returncode == 0, second.stdout + second.stderr
    cells = row(second.stdout, "arc-fr")  # source status found new duplicate updated 304 errors
    assert (cells[3], cells[5]) == ("0", "1")
    pages = [r.path for r in web.requests("arc-fr") if r.path not in (SITEMAP, "/robots.txt")]
    assert pages == [ARTICLE]  # only the page the sitemap says changed is fetched again
    [after] = db.query("SELECT id, title, body, version FROM articles WHERE url LIKE ?", [f"%{ARTICLE}"])
    assert after["id"] == before["id"] and after["version"] == before["version"] + 1
    assert "Une session sera consacrée à l'IA." in after["body"]
    [old] = db.query("SELECT version, body FROM article_versions WHERE article_id = ?", [after["id"]])
    assert old["version"] == before["version"] and old["body"] == before["body"]
    assert db.execute("SELECT COUNT(*) FROM articles WHERE url LIKE ?", [f"%{ARTICLE}"]).fetchone()[0] == 1
    [match] = db.query("SELECT topic, article_version FROM matches WHERE article_id = ?", [after["id"]])
    assert (match["topic"], match["article_version"]) == ("ia", after["version"])


def test_a_newer_lastmod_on_an_unchanged_page_is_fetched_once_not_at_every_crawl(
    web: MiniWeb, config: Path
) -> None:
    # The sitemap says the page changed; it did not. The date must be kept, or every crawl (news
    # sitemaps are regenerated all the time) would fetch the page again.
    sitemap = web.render((FIXTURES / "web" / "arc-fr" / SITEMAP.strip("/") / "index.xml").read_text("utf-8"))
    bumped = sitemap.replace("2019-09-27T15:05:00.000Z", "2019-09-30T09:00:00.000Z")
    web.put("arc-fr", SITEMAP, bumped)
    web.clear_log()
    assert row(crawl(config, "arc-fr").stdout, "arc-fr")[5] == "0"  # fetched, and not changed
    assert ARTICLE in [r.path for r in web.requests("arc-fr")]
    web.put("arc-fr", SITEMAP, bumped + "\n")  # regenerated: new ETag, same dates
    web.clear_log()
    assert crawl(config, "arc-fr").returncode == 0
    assert ARTICLE not in [r.path for r in web.requests("arc-fr")]


def test_fallbacks_are_tried_in_order_until_one_works(web: MiniWeb, config: Path) -> None:
    web.clear_log()
    result = crawl(config, "falls-back")
    assert result.returncode == 0, result.stdout  # partial counts as a success: articles were stored
    assert row(result.stdout, "falls-back")[:4] == ["falls-back", "partial", "5", "5"]
    errors = result.stdout.split("updated articles\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in errors] == ["falls-back (partial)", "  then", "  then"]
    assert "500 Internal Server Error" in errors[1] and "no-such-sitemap.xml" in errors[2]
    faults = [r.path for r in web.requests("faults") if r.path != "/robots.txt"]
    assert faults == ["/status/404", "/status/500", "/no-such-sitemap.xml"]
    assert [r.path for r in web.requests("wp-ar") if r.path == "/feed"] == ["/feed"]
    db = Database(config / "veille.db")
    [run] = db.query("SELECT status, new, error FROM crawl_runs WHERE source = 'falls-back'")
    assert run["status"] == "partial" and run["new"] > 0
    assert re.search(r"404 Not Found.*500 Internal Server Error.*404 Not Found", run["error"])
