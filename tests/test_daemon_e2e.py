"""End to end: the real `veille run` daemon against the fixture mini web, a real SMTP server and a real
webhook receiver, all on 127.0.0.1. The tests run in order on one daemon (restarted where they say)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.miniweb import MiniWeb, free_port
from tests.servers import SmtpServer, WebhookReceiver

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
INTERVAL = 3  # seconds between two crawls of a source
DEADLINE = 2 * INTERVAL + 12  # "within two poll intervals", with room for a slow CI machine
FEED_ITEM = (
    "<item><title>{title}</title><link>{{{{BASE}}}}/news-{n}.html</link>"
    "<pubDate>Mon, 16 Feb 2026 09:{n:02d}:00 +0000</pubDate><guid>{{{{BASE}}}}/?p={n}</guid></item>"
)
PAGE = (
    "<html><head><title>{title}</title><meta property='article:published_time' "
    "content='2026-02-16T09:{n:02d}:00+00:00'></head><body><article><h1>{title}</h1>"
    "<p>{body}</p><p>{filler}</p></article></body></html>"
)
WORDS = [
    "أعلنت",
    "الوزارة",
    "اليوم",
    "عن",
    "برنامج",
    "جديد",
    "لدعم",
    "المقاولات",
    "الصغيرة",
    "والمتوسطة",
    "في",
    "جهات",
    "المملكة",
    "بعد",
    "سنوات",
    "من",
    "النقاش",
    "بين",
    "الفاعلين",
    "الاقتصاديين",
    "والنقابات",
    "حول",
    "التمويل",
    "والتكوين",
    "والرقمنة",
    "والتصدير",
    "نحو",
    "إفريقيا",
    "وأوروبا",
    "مع",
    "تشجيع",
    "الشباب",
    "والنساء",
    "على",
    "الابتكار",
    "في",
    "الفلاحة",
    "والسياحة",
    "والصناعة",
    "والطاقات",
    "المتجددة",
]
KEYWORDS = """topics:
  - name: ia
    any: ["الذكاء الاصطناعي", "intelligence artificielle"]
  - name: volcans
    any: [{term}]
"""


class Daemon:
    """A `veille run` child process with its log file."""

    def __init__(self, config: Path, db: Path, log: Path, port: int) -> None:
        self.config, self.db, self.log_path, self.port = config, db, log, port
        self.proc: subprocess.Popen | None = None

    def start(self) -> Daemon:
        env = dict(os.environ, VEILLE_DB=str(self.db), HOOK_SECRET="s3cret")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--config", str(self.config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("a"),
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text("utf-8")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    def status(self) -> dict:
        env = dict(os.environ, VEILLE_DB=str(self.db), HOOK_SECRET="s3cret")
        out = subprocess.run(
            [sys.executable, "-m", "crawler.cli", "--config", str(self.config), "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode in (0, 3), out.stderr
        return json.loads(out.stdout)


def wait_for(check: Callable[[], object], what: str, timeout: float = DEADLINE) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("daemon")
    web = MiniWeb(FIXTURES / "web").start()
    smtp, hook = SmtpServer().start(), WebhookReceiver()
    config = root / "config"
    config.mkdir()
    port = free_port()
    (config / "settings.yaml").write_text(
        # A delay, because Scrapy 2.19 starts every queued request of a slot at once when it is 0.
        (FIXTURES / "config" / "settings.yaml")
        .read_text("utf-8")
        .replace("download_delay: 0", "download_delay: 0.2")
        + f"smtp_host: 127.0.0.1\nsmtp_port: {smtp.port}\nsmtp_tls: none\nmin_interval: 1s\n"
        f"default_schedule: {INTERVAL}s\ndispatch_interval: 1s\nstartup_spread: 1s\nadaptive_polling: false\n"
        f"http_listen: 127.0.0.1:{port}\nlog_format: json\n",
        "utf-8",
    )
    (config / "sources.yaml").write_text(
        web.render(
            "sources:\n  - name: wp-ar\n    languages: [ar]\n    feeds: ['{{BASE:wp-ar}}/feed']\n"
            "  - name: fault-404\n    languages: [fr]\n    feeds: ['{{BASE:faults}}/status/404']\n"
        ),
        "utf-8",
    )
    (config / "keywords.yaml").write_text(KEYWORDS.format(term="zzzz-inexistant"), "utf-8")
    (config / "watchers.yaml").write_text(
        "watchers:\n  - name: cellule-ia\n    topics: [ia, volcans]\n    email: [cellule@example.ma]\n"
        f"    webhook: {{url: '{hook.url}', secret: '${{HOOK_SECRET}}'}}\n"
        "  - name: admin\n    topics: [ia]\n    sources: [fault-404]\n    admin: true\n"
        "    email: [admin@example.ma]\n",
        "utf-8",
    )
    state = {
        "web": web,
        "smtp": smtp,
        "hook": hook,
        "config": config,
        "items": [],
        "port": port,
        "daemon": Daemon(config, root / "veille.db", root / "daemon.log", port).start(),
    }
    yield state
    daemon = state["daemon"]
    if daemon.proc.poll() is None:
        daemon.stop(signal.SIGKILL)
    web.stop()
    smtp.stop()
    hook.stop()


def publish(world: dict, n: int, title: str, body: str, slow: float = 0) -> None:
    """Put a new article on wp-ar: its page, and an item on top of the feed."""
    web: MiniWeb = world["web"]
    if slow:
        web.slow_down("wp-ar", f"/news-{n}.html", slow)
    filler = " ".join(random.Random(n).choices(WORDS, k=120))  # its own text: not a reprint of another
    web.put("wp-ar", f"/news-{n}.html", PAGE.format(n=n, title=title, body=body, filler=filler))
    world["items"].insert(0, FEED_ITEM.format(n=n, title=title))
    feed = (FIXTURES / "web" / "wp-ar" / "feed").read_text("utf-8")
    web.put("wp-ar", "/feed", feed.replace("<item>", "".join(world["items"]) + "<item>", 1))


def mails(world: dict, to: str, containing: str = "") -> list:
    return [
        m
        for m in world["smtp"].mailbox.messages
        if to in m["To"] and containing in (m["Subject"] + m.get_body(("plain",)).get_content())
    ]


def hooks(world: dict, containing: str) -> list:
    return [body for _, body in world["hook"].requests if containing in body.decode("utf-8")]


def test_the_first_cycle_archives_and_a_failing_source_is_reported_to_the_admin_once(world: dict) -> None:
    db = world["daemon"].db
    wait_for(
        lambda: query(db, "SELECT 1 FROM crawl_runs WHERE source = 'wp-ar' AND status = 'ok'"),
        "the first crawl of wp-ar",
    )
    assert query(db, "SELECT COUNT(*) FROM articles WHERE source = 'wp-ar'")[0][0] == 5
    wait_for(
        lambda: mails(world, "admin@", "fault-404 is down"),
        "the admin's notice about fault-404",
        timeout=6 * INTERVAL + 12,
    )
    time.sleep(2 * INTERVAL)  # more failed crawls: still one notice
    [notice] = mails(world, "admin@", "fault-404 is down")
    assert "HTTP 404" in notice.get_body(("plain",)).get_content()


def test_a_new_article_arrives_once_by_email_and_once_by_webhook(world: dict) -> None:
    publish(world, 1, "المغرب يراهن على الذكاء الاصطناعي في التعليم", "يعتمد البرنامج على الذكاء الاصطناعي.")
    wait_for(
        lambda: mails(world, "cellule@", "يراهن على الذكاء") and hooks(world, "يراهن على الذكاء"),
        "the email and the webhook of the new article",
    )
    time.sleep(2 * INTERVAL)  # later crawls of the same feed owe nothing more
    assert len(mails(world, "cellule@", "يراهن على الذكاء")) == 1
    [payload] = hooks(world, "يراهن على الذكاء")
    assert json.loads(payload)["topics"] == ["ia"]


def test_robots_txt_is_fetched_once_for_every_crawl_of_the_process(world: dict) -> None:
    paths = [r.path for r in world["web"].requests("wp-ar")]
    assert paths.count("/feed") >= 4 and paths.count("/robots.txt") == 1


def test_status_health_and_metrics_describe_the_running_daemon(world: dict) -> None:
    status = world["daemon"].status()
    assert status["running"] and status["daemon"]["config_error"] is None
    jobs = {job["id"]: job for job in status["jobs"]}
    assert {"crawl:wp-ar", "crawl:fault-404", "dispatch", "retention", "health"} <= set(jobs)
    assert jobs["crawl:wp-ar"]["trigger"] == f"every {INTERVAL}s" and jobs["crawl:wp-ar"]["next_run"]
    assert [p["kind"] for p in status["problems"] if p["source"] == "fault-404"] == ["failing"]
    base = f"http://127.0.0.1:{world['port']}"
    health = json.loads(urllib.request.urlopen(f"{base}/healthz", timeout=10).read())
    assert health["status"] == "ok" and health["sources_failing"] == 1
    assert health["problem_sources"] == ["fault-404"]
    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    assert 'veille_crawls_total{source="wp-ar",status="ok"}' in metrics
    assert 'veille_outbox{status="dead"} 0.0' in metrics  # a sample even when nothing is dead
    assert "process_resident_memory_bytes" in metrics
    lines = [json.loads(line) for line in world["daemon"].log().splitlines() if line.startswith("{")]
    assert any(entry["message"].startswith("crawl wp-ar: ok") for entry in lines)  # JSON log lines


def test_a_valid_keywords_edit_is_used_by_the_next_crawl(world: dict) -> None:
    (world["config"] / "keywords.yaml").write_text(KEYWORDS.format(term="بركان"), "utf-8")
    wait_for(lambda: "config reloaded" in world["daemon"].log(), "the reload", timeout=10)
    publish(world, 2, "ثوران بركان في جزر الكناري", "يتابع العلماء نشاط بركان قرب السواحل المغربية.")
    mail = wait_for(lambda: mails(world, "cellule@", "ثوران بركان"), "the alert of the new topic")
    assert mail[0]["Subject"].startswith("[Veille] volcans:")


def test_a_broken_edit_keeps_the_last_good_config_and_alerts_the_admin_once(world: dict) -> None:
    (world["config"] / "keywords.yaml").write_text("topics:\n  - name: ia\n    any: [unterminated\n", "utf-8")
    wait_for(lambda: mails(world, "admin@", "config edit refused"), "the admin's config notice", timeout=15)
    log = world["daemon"].log()
    assert "keywords.yaml:4:1: YAML syntax error" in log and world["daemon"].proc.poll() is None
    assert "unknown topic" not in log  # no echo of the broken file in watchers.yaml
    publish(world, 3, "الذكاء الاصطناعي في الفلاحة", "مشروع جديد يوظف الذكاء الاصطناعي في الري.")
    wait_for(lambda: mails(world, "cellule@", "في الفلاحة"), "an alert under the last good config")
    assert len(mails(world, "admin@", "config edit refused")) == 1
    assert (
        world["daemon"].status()["daemon"]["config_error"].startswith(str(world["config"] / "keywords.yaml"))
    )
    (world["config"] / "keywords.yaml").write_text(KEYWORDS.format(term="بركان"), "utf-8")


def test_schedules_follow_added_removed_and_changed_sources_without_a_restart(world: dict) -> None:
    daemon: Daemon = world["daemon"]
    sources = world["config"] / "sources.yaml"
    before = sources.read_text("utf-8")
    sources.write_text(
        world["web"].render(
            "sources:\n  - name: wp-ar\n    languages: [ar]\n    feeds: ['{{BASE:wp-ar}}/feed']\n"
            f"    schedule: {{every: {INTERVAL + 1}s}}\n"
            "  - name: list-fr\n    languages: [fr]\n    listings: [{url: '{{BASE:list-fr}}/maroc/', "
            "links: 'h3.entry-title a'}]\n"
            "  - name: fault-404\n    languages: [fr]\n    feeds: ['{{BASE:faults}}/status/404']\n"
            "    enabled: false\n"
        ),
        "utf-8",
    )
    reloads = daemon.log().count("config reloaded")
    wait_for(
        lambda: daemon.log().count("config reloaded") > reloads, "the reload of sources.yaml", timeout=10
    )

    def crawl_jobs() -> dict:
        jobs = {j["id"]: j for j in daemon.status()["jobs"] if j["id"].startswith("crawl:")}
        return jobs if "crawl:list-fr" in jobs else {}

    jobs = wait_for(crawl_jobs, "the published jobs of the new config", timeout=15)
    assert set(jobs) == {"crawl:wp-ar", "crawl:list-fr"}  # fault-404 is disabled: its job is gone
    # ...and its open "failing" problem is closed with the reload, not at the next health check.
    wait_for(
        lambda: not query(daemon.db, "SELECT 1 FROM source_problems WHERE source = 'fault-404'"),
        "the disabled source's problem to close",
        timeout=10,
    )
    assert jobs["crawl:wp-ar"]["trigger"] == f"every {INTERVAL + 1}s"
    wait_for(
        lambda: query(daemon.db, "SELECT 1 FROM crawl_runs WHERE source = 'list-fr'"),
        "the first crawl of the added source",
        timeout=20,
    )
    sources.write_text(before, "utf-8")
    wait_for(lambda: "crawl:fault-404" in {j["id"] for j in daemon.status()["jobs"]}, "fault-404 back")


def test_sighup_reloads_at_once(world: dict) -> None:
    daemon: Daemon = world["daemon"]
    reloads = daemon.log().count("config reloaded")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.log().count("config reloaded") > reloads, "the reload on SIGHUP", timeout=5)
    assert daemon.proc.poll() is None


def test_sigterm_in_the_middle_of_a_crawl_exits_cleanly_and_a_restart_resends_nothing(world: dict) -> None:
    daemon: Daemon = world["daemon"]
    db = daemon.db
    before = query(db, "SELECT COUNT(*) FROM articles")[0][0]
    # The watcher's alerts: fault-404, enabled again by the previous test, may tell the admin again.
    sent = len(mails(world, "cellule@")), len(world["hook"].requests)
    for n in range(20, 23):
        publish(world, n, f"الذكاء الاصطناعي والبرلمان {n}", "نقاش حول الذكاء الاصطناعي.", slow=1.5)
    wait_for(lambda: query(db, "SELECT COUNT(*) FROM articles")[0][0] > before, "the first stored article")
    assert daemon.stop(signal.SIGTERM) == 0
    log = daemon.log()
    assert "stopped cleanly" in log and "database is locked" not in log and "Traceback" not in log
    assert query(db, "SELECT COUNT(*) FROM crawl_runs WHERE error LIKE '%crawl interrupted (shutdown)%'")
    assert not daemon.status()["running"]
    daemon.start()
    wait_for(lambda: daemon.log().count("veille 0.1.0 running") == 2, "the restart", timeout=20)
    wait_for(
        lambda: query(db, "SELECT COUNT(*) FROM articles")[0][0] == before + 3,
        "the rest of the articles",
        timeout=30,
    )
    for n in range(20, 23):
        wait_for(lambda n=n: mails(world, "cellule@", f"والبرلمان {n}"), f"the alert of article {n}")
    time.sleep(3 * INTERVAL)  # nothing sent before the stop is sent again
    assert len(mails(world, "cellule@")) == sent[0] + 3
    assert len(world["hook"].requests) == sent[1] + 3


def test_sigkill_in_the_middle_of_a_crawl_loses_nothing(world: dict) -> None:
    daemon: Daemon = world["daemon"]
    db = daemon.db
    before = query(db, "SELECT COUNT(*) FROM articles")[0][0]
    for n in range(10, 15):
        publish(
            world, n, f"الذكاء الاصطناعي والصحافة {n}", "تقرير عن الذكاء الاصطناعي في غرف الأخبار.", slow=1.5
        )
    wait_for(lambda: query(db, "SELECT COUNT(*) FROM articles")[0][0] > before, "the first stored article")
    assert query(db, "SELECT COUNT(*) FROM articles")[0][0] < before + 5  # still crawling
    daemon.stop(signal.SIGKILL)
    daemon.start()
    wait_for(
        lambda: query(db, "SELECT COUNT(*) FROM articles")[0][0] == before + 5,
        "the articles the killed crawl had not stored yet",
        timeout=40,
    )
    for n in range(10, 15):
        wait_for(lambda n=n: mails(world, "cellule@", f"والصحافة {n}"), f"the alert of article {n}")
    time.sleep(2 * INTERVAL)
    for n in range(10, 15):
        assert len(mails(world, "cellule@", f"والصحافة {n}")) == 1
    assert query(db, "SELECT COUNT(*) FROM articles WHERE url LIKE '%/news-1_.html'")[0][0] == 5
    seen = len(daemon.log())
    daemon.proc.send_signal(signal.SIGINT)  # Ctrl-C pressed twice: one clean stop, no traceback
    time.sleep(0.05)
    assert daemon.stop(signal.SIGINT) == 0
    log = daemon.log()[seen:]
    assert "stopped cleanly" in log and "already stopping (SIGINT)" in log and "Traceback" not in log
