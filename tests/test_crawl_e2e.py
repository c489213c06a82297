"""End to end: the real `veille crawl` against the fixture mini web served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from sqlite_utils import Database

from crawler.archive.search import search
from crawler.extract.urls import url_key
from tests.miniweb import MiniWeb
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = yaml.safe_load((FIXTURES / "web" / "EXPECTED.yaml").read_text("utf-8"))
ARTICLE_SITES = ("wp-ar", "arc-fr", "list-fr", "ar-maghreb", "rel-cp1252", "wire")
FAULTS = {
    "fault-404": "HTTP 404 Not Found",
    "fault-500": "HTTP 500 Internal Server Error",
    "fault-timeout": "timed out after 3s",
    "fault-refused": "connection refused",
    "fault-html": "not a feed: the server sent an HTML page (text/html)",
    "fault-malformed": "malformed XML",
    "fault-empty": "the feed has no entries",
    "fault-huge": "download cancelled: the body grew over max_response_bytes (1,000,000 bytes) (hint: raise",
    "fault-redirect": "too many redirects",
    "fault-bomb": "declares XML entities",
    "fault-xxe": "declares XML entities",
    "fault-robots": "forbidden by robots.txt",
}
SCRAPY = Path(sys.executable).parent / "scrapy"
NEW_PAGE = "/%d8%ae%d8%a8%d8%b1-%d8%ac%d8%af%d9%8a%d8%af-1709999.html"


@dataclass
class Crawl:
    """One `veille crawl` run: its exit code, output, and the requests each site received."""

    code: int
    stdout: str
    stderr: str
    requests: dict[str, list]


def run_veille(config: Path, db: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VEILLE_DB=str(db))
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def web() -> MiniWeb:
    with MiniWeb(FIXTURES / "web") as web:
        yield web


@pytest.fixture(scope="module")
def smtp() -> SmtpServer:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def setup(web: MiniWeb, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    config = tmp_path_factory.mktemp("config")
    template = (FIXTURES / "config" / "sources.yaml.tmpl").read_text("utf-8")
    (config / "sources.yaml").write_text(web.render(template), "utf-8")
    settings = (FIXTURES / "config" / "settings.yaml").read_text("utf-8")
    (config / "settings.yaml").write_text(
        settings + f"smtp_host: 127.0.0.1\nsmtp_port: {smtp.port}\nsmtp_tls: none\n", "utf-8"
    )
    (config / "watchers.yaml").write_text(
        "watchers:\n  - name: cellule-ia\n    topics: [ia]\n    email: [veille@example.ma]\n", "utf-8"
    )
    (config / "keywords.yaml").write_text(
        (FIXTURES.parent.parent / "config" / "keywords.yaml").read_text("utf-8")
    )
    return config, config / "veille.db"


def crawl(web: MiniWeb, setup: tuple[Path, Path], *sources: str) -> Crawl:
    web.clear_log()
    result = run_veille(*setup, "crawl", *sources)
    return Crawl(
        result.returncode, result.stdout, result.stderr, {site: web.requests(site) for site in web.sites}
    )


@pytest.fixture(scope="module")
def crawls(web: MiniWeb, setup: tuple[Path, Path]) -> dict[str, Crawl]:
    """Three cycles: the first, a second with nothing new, a third after one new article."""
    first = crawl(web, setup)
    second = crawl(web, setup)
    publish_new_article(web)
    third = crawl(web, setup, "wp-ar")
    return {"first": first, "second": second, "third": third}


def publish_new_article(web: MiniWeb) -> None:
    base = web.base("wp-ar")
    feed = (FIXTURES / "web" / "wp-ar" / "feed").read_text("utf-8")
    item = (
        f"<item><title>خبر جديد عن الذكاء الاصطناعي</title><link>{{{{BASE}}}}{NEW_PAGE}</link>"
        f"<pubDate>Mon, 16 Feb 2026 09:00:00 +0000</pubDate><guid>{{{{BASE}}}}/?p=1709999</guid></item>"
    )
    web.put("wp-ar", "/feed", feed.replace("<item>", item + "<item>", 1))
    page = (FIXTURES / "web" / "wp-ar" / "معهد-ألماني-يشيد-بالمؤهلات-المغربية-1701661.html").read_text(
        "utf-8"
    )
    page = page.replace("معهد ألماني يشيد بالمؤهلات المغربية", "خبر جديد عن الذكاء الاصطناعي")
    web.put("wp-ar", NEW_PAGE, page.replace("1701661", "1709999").replace("{{BASE}}", base))


@pytest.fixture(scope="module")
def db(crawls: dict[str, Crawl], setup: tuple[Path, Path]) -> Database:
    return Database(setup[1])


def article_by_path(db: Database, web: MiniWeb, site: str, path: str) -> dict:
    key = f"url:{url_key(web.base(site) + path)}"
    rows = list(
        db.query(
            "SELECT a.* FROM articles a JOIN article_keys k ON k.article_id = a.id WHERE k.key = ?", [key]
        )
    )
    assert rows, f"{site}{unquote(path)} was not archived"
    return rows[0]


def runs(db: Database, number: int) -> dict[str, dict]:
    run_ids = [r["run_id"] for r in db.query("SELECT DISTINCT run_id FROM crawl_runs ORDER BY id")]
    return {r["source"]: r for r in db.query("SELECT * FROM crawl_runs WHERE run_id = ?", [run_ids[number]])}


def test_first_crawl_reports_every_source(crawls: dict[str, Crawl]) -> None:
    first = crawls["first"]
    assert first.code == 1, first.stderr  # the fault sources failed
    assert "Traceback" not in first.stderr + first.stdout
    assert "source" in first.stdout and "duplicate" in first.stdout
    assert "6 succeeded" not in first.stdout
    assert f"{len(FAULTS)} failed" in first.stdout


@pytest.mark.parametrize(
    "expected", EXPECTED["articles"], ids=lambda a: f"{a['site']}{unquote(a['path'])[:40]}"
)
def test_articles_are_stored_with_correct_fields(db: Database, web: MiniWeb, expected: dict) -> None:
    article = article_by_path(db, web, expected["site"], expected["path"])
    assert article["source"] == expected["source"]
    assert article["title"] == expected["title"]
    assert article["language"] == expected["language"]
    assert article["published_at"] == expected["published_at"]
    if expected.get("author"):
        assert article["author"] == expected["author"]
    assert expected["body_snippet"] in article["body"]
    assert expected["boilerplate_snippet"] not in article["body"]


def test_each_fault_is_that_sources_error(db: Database) -> None:
    first = runs(db, 0)
    for source, message in FAULTS.items():
        assert first[source]["status"] == "failed", source
        assert message in first[source]["error"], (source, first[source]["error"])
    for source in (*ARTICLE_SITES, "fault-encoding", "fault-retry-after"):
        assert first[source]["status"] == "ok", (source, first[source]["error"])


def test_counts_per_source(db: Database) -> None:
    first = runs(db, 0)
    for site in ARTICLE_SITES:
        assert first[site]["new"] == EXPECTED["counts"][site], site
    assert first["fault-encoding"]["new"] + first["fault-retry-after"]["new"] == EXPECTED["counts"]["faults"]


def test_hostile_xml_is_never_expanded(db: Database) -> None:
    text = " ".join(r["body"] or "" for r in db.query("SELECT body FROM articles"))
    assert "root:" not in text and "lollol" not in text


def test_second_crawl_stores_nothing_and_fetches_no_article_again(
    crawls: dict[str, Crawl], db: Database
) -> None:
    second = runs(db, 1)
    assert sum(r["new"] + r["updated"] for r in second.values()) == 0
    for site in ARTICLE_SITES:
        paths = [r.path for r in crawls["second"].requests[site]]
        articles = [a["path"] for a in EXPECTED["articles"] if a["site"] == site]
        assert not set(paths) & set(articles), site


def test_second_crawl_gets_304_for_feeds_and_sitemaps(crawls: dict[str, Crawl], db: Database) -> None:
    for site in ("wp-ar", "arc-fr", "ar-maghreb", "rel-cp1252", "wire"):
        statuses = {r.status for r in crawls["second"].requests[site] if r.path != "/robots.txt"}
        assert statuses == {304}, (site, crawls["second"].requests[site])
    assert runs(db, 1)["wp-ar"]["not_modified"] == 1


def test_an_article_published_later_is_picked_up(
    crawls: dict[str, Crawl], db: Database, web: MiniWeb
) -> None:
    third = runs(db, 2)
    assert third["wp-ar"]["new"] == 1 and third["wp-ar"]["duplicate"] == 5
    fetched = [r.path for r in crawls["third"].requests["wp-ar"]]
    assert fetched.count(NEW_PAGE) == 1 and len(fetched) == 3  # robots.txt, the feed, the new page
    article = article_by_path(db, web, "wp-ar", NEW_PAGE)
    assert article["title"] == "خبر جديد عن الذكاء الاصطناعي"


def test_the_wire_story_on_two_sites_is_one_story(db: Database, web: MiniWeb) -> None:
    [pair] = EXPECTED["wire_pairs"]
    stories = {article_by_path(db, web, a["site"], a["path"])["story_id"] for a in pair["articles"]}
    assert len(stories) == 1 and None not in stories


def test_an_article_republished_under_a_new_url_joins_its_story(db: Database, web: MiniWeb) -> None:
    # NEW_PAGE carries the body of article 1701661 under a new title and URL.
    original = article_by_path(
        db, web, "wp-ar", next(a["path"] for a in EXPECTED["articles"] if a["path"].endswith("-1701661.html"))
    )
    assert article_by_path(db, web, "wp-ar", NEW_PAGE)["story_id"] == original["story_id"]
    linked = {
        r["story_id"]
        for r in db.query(
            "SELECT story_id FROM stories s JOIN articles a ON a.story_id = s.id WHERE s.article_count > 1"
        )
    }
    assert len(linked) == 2  # the wire pair and the republished article, nothing else


def test_search_folds_arabic_diacritics_and_french_accents(db: Database) -> None:
    assert search(db, "العربية")  # the body says الْعَرَبِيَّةِ
    assert search(db, "الذكاء الاصطناعي", language="ar")
    assert search(db, "الذكاء الإصطناعي", language="ar")
    assert search(db, "migration irreguliere", language="fr")
    assert search(db, "MIGRATION IRRÉGULIÈRE", source="wire")


def test_new_articles_are_matched_once_with_their_spans(db: Database, web: MiniWeb) -> None:
    rows = list(
        db.query(
            "SELECT m.*, a.body, a.source FROM matches m JOIN articles a ON a.id = m.article_id "
            "WHERE m.topic = 'ia'"
        )
    )
    sources = {r["source"] for r in rows}
    assert {"wp-ar", "ar-maghreb"} <= sources  # الذكاء الاصطناعي, and the hamza spelling الإصطناعي
    for row in rows:
        for span in json.loads(row["spans"]):
            if span["field"] == "body":
                assert row["body"][span["start"] : span["end"]] == span["text"]
    # The second and third crawls stored nothing new for these articles: no second match row.
    assert (
        db.execute("SELECT COUNT(*) FROM matches GROUP BY article_id, topic HAVING COUNT(*) > 1").fetchall()
        == []
    )
    new = article_by_path(db, web, "wp-ar", NEW_PAGE)
    assert db.execute("SELECT topic FROM matches WHERE article_id = ?", [new["id"]]).fetchall() == [("ia",)]


def test_crawl_sends_the_alerts_once(crawls: dict[str, Crawl], smtp: SmtpServer, db: Database) -> None:
    assert "alerts: " in crawls["first"].stdout
    subjects = [m["Subject"] for m in smtp.mailbox.messages]
    stories = db.execute("SELECT COUNT(DISTINCT story_key) FROM deliveries").fetchone()[0]
    assert len(subjects) == stories >= 3 and all(s.startswith("[Veille] ia: ") for s in subjects)
    assert "خبر جديد عن الذكاء الاصطناعي" not in " ".join(subjects)  # republished: same story, no new alert
    assert db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]


def test_alerts_commands(setup: tuple[Path, Path], crawls: dict[str, Crawl], smtp: SmtpServer) -> None:
    listed = run_veille(*setup, "alerts", "--watcher", "cellule-ia")
    assert listed.returncode == 0 and "cellule-ia" in listed.stdout and "sent" in listed.stdout
    before = len(smtp.mailbox.messages)
    tested = run_veille(*setup, "alerts", "test", "cellule-ia")
    assert tested.returncode == 0 and tested.stdout.strip() == "email: sent"
    assert len(smtp.mailbox.messages) == before + 1
    unknown = run_veille(*setup, "alerts", "test", "cellule")  # names the config actually in use
    assert unknown.returncode == 1 and f"(hint: {setup[0]}/watchers.yaml has: cellule-ia" in unknown.stderr
    retried = run_veille(*setup, "alerts", "retry", "--dead")
    assert retried.returncode == 0 and retried.stdout.strip() == "0 deliveries due again"


def test_try_and_backtest_on_the_archive(
    setup: tuple[Path, Path], crawls: dict[str, Crawl], db: Database
) -> None:
    article_id = db.execute("SELECT article_id FROM matches WHERE topic = 'ia' LIMIT 1").fetchone()[0]
    tried = run_veille(*setup, "try", "--article", str(article_id), "--json")
    assert tried.returncode == 0, tried.stderr
    assert "ia" in {m["topic"] for m in json.loads(tried.stdout)["matches"]}
    candidate = setup[0] / "candidate.yaml"
    candidate.write_text(
        "topics:\n  - name: ia\n    any: [الذكاء الاصطناعي]\n  - name: migration\n"
        "    any: [migration irrégulière]\n",
        "utf-8",
    )
    report = run_veille(*setup, "backtest", "--keywords", str(candidate), "--since", "3650d")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert any(line.split()[:3] == ["migration", "0", "2"] for line in lines), report.stdout  # the wire pair
    assert "#" in report.stdout  # samples


def test_requests_name_veille_and_its_contact(crawls: dict[str, Crawl]) -> None:
    agents = {r.headers.get("User-Agent") for r in crawls["first"].requests["wp-ar"]}
    assert agents == {"Veille/0.1.0 (+https://github.com/veille-maroc/veille)"}


def test_scrapy_crawl_works_from_the_repository_root(
    setup: tuple[Path, Path], web: MiniWeb, crawls: dict[str, Crawl]
) -> None:
    config, db = setup
    env = dict(os.environ, VEILLE_CONFIG=str(config), VEILLE_DB=str(db))
    listed = subprocess.run(
        [str(SCRAPY), "list"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert listed.stdout.split() == ["veille"]
    crawled = subprocess.run(
        [str(SCRAPY), "crawl", "veille", "-a", "sources=wire"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=Path(__file__).parent.parent,
        timeout=120,
    )
    assert crawled.returncode == 0, crawled.stderr[-2000:]
    assert "'veille/articles/duplicate'" not in crawled.stderr  # nothing stored twice
    assert (
        Database(db).execute("SELECT COUNT(*) FROM crawl_runs WHERE source = 'wire'").fetchone()[0] == 3
    )  # two veille crawls, this one


def test_sources_and_search_commands(setup: tuple[Path, Path], crawls: dict[str, Crawl]) -> None:
    health = run_veille(*setup, "sources")
    assert health.returncode == 0, health.stderr
    assert "wp-ar" in health.stdout and "fault-404" in health.stdout and "HTTP 404" in health.stdout
    found = run_veille(*setup, "search", "الذكاء الاصطناعي", "--since", "3650d")
    assert found.returncode == 0 and "#" in found.stdout
