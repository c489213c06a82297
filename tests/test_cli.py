"""The `veille` command's thin shell: exit codes and one-line errors (no crawling here)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli import main

ROOT = Path(__file__).parent.parent


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_check_passes_on_the_shipped_config() -> None:
    result = run("--config", str(ROOT / "config"), "check")
    assert result.exit_code == 0
    assert "OK: 50 sources" in result.output


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("sources:\n  - name: x\n    languages: [de]\n")
    result = run("--config", str(tmp_path), "check")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(f"error: {tmp_path}/sources.yaml:") for line in lines)
    assert "Traceback" not in result.output


def test_config_directory_from_the_environment(tmp_path: Path) -> None:
    result = run("check", env={"VEILLE_CONFIG": str(tmp_path / "missing")})
    assert result.exit_code == 1
    assert "config directory not found (hint: pass --config DIR or set VEILLE_CONFIG)" in result.output


def test_crawl_refuses_an_unknown_source(tmp_path: Path) -> None:
    result = run("--config", str(ROOT / "config"), "crawl", "nope")
    assert result.exit_code == 1
    assert "unknown source(s): nope" in result.output


def test_sources_and_search_on_an_empty_archive(tmp_path: Path) -> None:
    from crawler.archive.articles import Archive

    Archive.open(tmp_path / "empty.db").close()
    env = {"VEILLE_DB": str(tmp_path / "empty.db")}
    sources = run("--config", str(ROOT / "config"), "sources", env=env)
    assert sources.exit_code == 0 and "hespress-ar" in sources.output and "never" in sources.output
    found = run("--config", str(ROOT / "config"), "search", "الذكاء", "--since", "7d", env=env)
    assert found.exit_code == 0 and "no article found" in found.output


def test_reading_commands_do_not_create_a_missing_archive(tmp_path: Path) -> None:
    env = {"VEILLE_DB": str(tmp_path / "none.db")}
    for args in (["search", "x"], ["backtest"], ["try", "--article", "1"], ["alerts"]):
        result = run("--config", str(ROOT / "config"), *args, env=env)
        assert result.exit_code == 1 and f"{tmp_path}/none.db: no archive yet (hint:" in result.output, args
    listed = run(
        "--config", str(ROOT / "config"), "sources", env=env
    )  # the configured sources, never crawled
    assert listed.exit_code == 0 and "hespress-ar" in listed.output and "never" in listed.output
    assert f"{tmp_path}/none.db: no archive yet, so nothing crawled (hint:" in listed.output
    assert not (tmp_path / "none.db").exists()


def test_commands_that_send_nothing_do_not_need_the_secrets(tmp_path: Path) -> None:
    # An admin's shell rarely has the daemon's EnvironmentFile: listing or searching must still work.
    import shutil

    from crawler.archive.articles import Archive

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (config / "watchers.yaml").write_text(
        "watchers:\n  - name: w\n    topics: [ia]\n    webhook: "
        "{url: 'https://h.example.ma/x', secret: '${VEILLE_TEST_UNSET}'}\n"
    )
    Archive.open(tmp_path / "v.db").close()
    env = {"VEILLE_DB": str(tmp_path / "v.db")}
    for args in (["sources"], ["search", "Maroc"], ["alerts"], ["try", "texte"], ["backtest"]):
        assert run("--config", str(config), *args, env=env).exit_code == 0, args
    for args in (["check"], ["alerts", "test", "w"]):  # these validate or send: the variable is needed
        result = run("--config", str(config), *args, env=env)
        assert result.exit_code == 1 and "environment variable VEILLE_TEST_UNSET is not set" in result.output


def test_search_rejects_a_bad_since(tmp_path: Path) -> None:
    env = {"VEILLE_DB": str(tmp_path / "empty.db")}
    result = run("--config", str(ROOT / "config"), "search", "x", "--since", "yesterday-ish", env=env)
    assert result.exit_code == 1 and "not a date or a duration" in result.output


def test_status_without_an_archive_says_not_running_with_exit_code_3(tmp_path: Path) -> None:
    import json

    env = {"VEILLE_DB": str(tmp_path / "none.db")}
    text = run("--config", str(ROOT / "config"), "status", env=env)
    assert text.exit_code == 3 and text.output.startswith(f"not running: {tmp_path}/none.db: no archive here")
    as_json = run("--config", str(ROOT / "config"), "status", "--json", env=env)
    assert as_json.exit_code == 3 and json.loads(as_json.output)["running"] is False
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    "typo", ["yesterday", "7x", "2026-02-30", "2026-13-01", "01/11/2026", "0001-01-01T00:00+01:00"]
)
def test_since_refuses_what_it_would_have_to_guess(typo: str) -> None:
    # Each of these used to be read as some date (2026-13-01 as 13 January) and quietly filter wrong.
    from crawler.cli.common import CommandError, parse_since

    with pytest.raises(CommandError, match="not a date or a duration"):
        parse_since(typo)


def test_since_takes_a_duration_or_an_iso_date_in_utc() -> None:
    from crawler.cli.common import parse_since

    assert parse_since("2026-11-01") == "2026-11-01T00:00:00Z"
    assert parse_since("2026-11-01T08:00+01:00") == "2026-11-01T07:00:00Z"
    assert parse_since("7d") < parse_since("12h")


def test_an_unwritable_database_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # tests run as root: a file in the way still stops us
    env = {"VEILLE_DB": str(tmp_path / "a-file" / "x.db")}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [http://127.0.0.1:9/feed]\n"
    )
    result = run("--config", str(tmp_path / "config"), "crawl", env=env)  # the archive opens first
    assert result.exit_code == 1
    assert (
        "a-file/x.db: cannot open the archive" in result.output and "(hint: check the path" in result.output
    )


def test_try_shows_the_match_the_highlight_and_the_near_miss() -> None:
    result = run(
        "--config", str(ROOT / "config"), "try", "Le Maroc mise sur l’IA générative, disent les médias"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("MATCH ia: IA (body)")
    assert "l’[IA générative], disent" in lines[1]  # the longer of two overlapping terms
    assert (
        "near miss: 'IA' in body, in the word 'médias' at 49 (ia, mistral-ai): inside a word" in result.output
    )


def test_try_merges_overlapping_spans_and_gives_each_near_miss_once() -> None:
    result = run(
        "--config",
        str(ROOT / "config"),
        "try",
        "Le média Kia, via Italia, et Mistral AI pour la souveraineté numérique",
    )
    assert result.exit_code == 0, result.output
    assert "[Mistral AI]" in result.output and "[souveraineté numérique]" in result.output
    near = [line for line in result.output.splitlines() if line.startswith("near miss: 'IA'")]
    assert [line.split("'")[3] for line in near] == ["média", "Kia", "via", "Italia"]


def test_try_takes_a_title_and_detects_the_language_like_the_crawler(tmp_path: Path) -> None:
    (tmp_path / "kw.yaml").write_text(
        "topics:\n  - name: t\n    any: [Jazari]\n    fields: [title]\n"
        "  - name: fr\n    any: [souveraineté]\n    languages: [fr]\n",
        "utf-8",
    )
    result = run(
        "--config",
        str(ROOT / "config"),
        "try",
        "--keywords",
        str(tmp_path / "kw.yaml"),
        "--title",
        "Le programme Jazari",
        "La souveraineté numérique du Maroc passe par la formation des jeunes",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:3] == [
        "MATCH t: Jazari (title)",
        "  title: Le programme [Jazari]",
        "MATCH fr: souveraineté (body)",
    ]
    short = run(
        "--config",
        str(ROOT / "config"),
        "try",
        "--keywords",
        str(tmp_path / "kw.yaml"),
        "--source",
        "telquel",
        "la souveraineté",
    )  # too short to detect: the source's language
    assert short.exit_code == 0 and short.output.startswith("MATCH fr: souveraineté (body)"), short.output


def test_try_reads_a_file_and_prints_near_misses_as_json(tmp_path: Path) -> None:
    import json

    text = tmp_path / "article.txt"
    text.write_text("Le Maroc mise sur l&#8217;IA générative, disent les médias", "utf-8")
    result = run("--config", str(ROOT / "config"), "try", "--json", "--file", str(text))
    data = json.loads(result.output)
    assert [m["topic"] for m in data["matches"]] == ["ia"]
    [miss] = [n for n in data["near_misses"] if n["word"] == "médias"]
    assert (miss["term"], miss["start"], miss["end"], miss["reason"]) == ("IA", 55, 57, "inside a word")
    assert miss["topics"] == ["ia", "mistral-ai"]


def test_try_explains_why_nothing_matched(tmp_path: Path) -> None:
    result = run("--config", str(ROOT / "config"), "try", "Le groupe IAM annonce ses résultats, ia")
    assert result.exit_code == 0
    assert "no topic matches" in result.output
    assert "case differs ('ia', wanted 'IA')" in result.output


def test_try_json_and_a_candidate_file(tmp_path: Path) -> None:
    import json

    candidate = tmp_path / "k.yaml"
    candidate.write_text("topics:\n  - name: jazari\n    any: [الجزري]\n", "utf-8")
    result = run(
        "--config",
        str(ROOT / "config"),
        "try",
        "--keywords",
        str(candidate),
        "--json",
        "افتتاح معهد الجزري بالرباط، لا علاقة له بالجزيرة",
    )
    data = json.loads(result.output)
    assert [m["topic"] for m in data["matches"]] == ["jazari"]
    assert data["matches"][0]["hits"][0]["text"] == "الجزري"


def test_try_needs_a_text() -> None:
    result = run("--config", str(ROOT / "config"), "try")
    assert result.exit_code == 1 and "give a text, --file PATH or --article ID" in result.output


def test_check_warns_about_impolite_settings_and_scrapy_gets_the_settings(tmp_path: Path) -> None:
    from crawler.config import load_config
    from crawler.runner import build_scrapy_settings

    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
    )
    (tmp_path / "settings.yaml").write_text(
        "download_delay: 0.2\nconcurrent_per_domain: 4\ncontact_url: https://veille.example.ma/contact\n"
    )
    result = CliRunner().invoke(main, ["--config", str(tmp_path), "check"])
    assert result.exit_code == 0
    assert (
        f"warning: {tmp_path}/settings.yaml: concurrent_per_domain is 4: more than 2 requests"
        in result.output
    )
    assert f"warning: {tmp_path}/settings.yaml: download_delay is 0.2s: less than a second" in result.output
    scrapy = build_scrapy_settings(load_config(tmp_path))
    assert (scrapy.getfloat("DOWNLOAD_DELAY"), scrapy.getint("CONCURRENT_REQUESTS_PER_DOMAIN")) == (0.2, 4)
    assert scrapy["USER_AGENT"].endswith("(+https://veille.example.ma/contact)")
    (tmp_path / "settings.yaml").write_text("download_delay: 2\nconcurrent_per_domain: 2\n")
    result = CliRunner().invoke(main, ["--config", str(tmp_path), "check"])
    assert "warning" not in result.output


def test_check_warns_about_values_raised_to_their_floor(tmp_path: Path) -> None:
    # Refusing them would stop a daemon that ran with them before an upgrade: they are warned about.
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
    )
    (tmp_path / "settings.yaml").write_text("prune_bodies_after_days: 5\nmin_interval: 20m\n")
    result = CliRunner().invoke(main, ["--config", str(tmp_path), "check"])
    assert result.exit_code == 0
    assert (
        f"warning: {tmp_path}/settings.yaml: prune_bodies_after_days is 5: bodies are kept at least 31 days, "
        "which source health compares, so 31 is used"
    ) in result.output
    assert (
        f"warning: {tmp_path}/settings.yaml: default_schedule 15m is shorter than min_interval 20m: sources "
        "without a schedule are crawled every 20m"
    ) in result.output


def test_check_warns_about_risky_topics(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
    )
    (tmp_path / "keywords.yaml").write_text("topics:\n  - name: ia\n    any: [IA]\n", "utf-8")
    result = CliRunner().invoke(main, ["--config", str(tmp_path), "check"])
    assert result.exit_code == 0
    assert "1 topics" in result.output and "the short term 'IA' matches in any case" in result.output


def test_check_warns_about_terms_found_in_too_much_of_the_archive(tmp_path: Path) -> None:
    from crawler.archive.articles import Archive
    from crawler.items import ArticleItem
    from crawler.pipelines import build_record

    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
    )
    (tmp_path / "keywords.yaml").write_text("topics:\n  - name: m\n    any: [Maroc]\n", "utf-8")
    archive = Archive.open(tmp_path / "a.db")
    for n in range(20):
        body = f"Article {n} sur le Maroc." if n < 3 else f"Article {n} sans rapport."
        archive.store(build_record(ArticleItem(source="s", url=f"https://x.ma/a-{n}", title="t", body=body)))
    archive.close()
    result = CliRunner().invoke(
        main, ["--config", str(tmp_path), "check"], env={"VEILLE_DB": str(tmp_path / "a.db")}
    )
    assert result.exit_code == 0
    assert "the term 'Maroc' matches 15% of the 20 newest articles" in result.output


RESOLVER_CHILD = """
import sys
from scrapy.utils.reactor import install_reactor
install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
from scrapy.crawler import AsyncCrawlerRunner
from twisted.internet import reactor
from pathlib import Path
from crawler.config import load_config
from crawler.runner import build_scrapy_settings, prepare_reactor
runner = AsyncCrawlerRunner(build_scrapy_settings(load_config(Path(sys.argv[1]))))
before = type(reactor.resolver).__name__
prepare_reactor(runner)
prepare_reactor(runner)
from scrapy.resolver import CachingThreadedResolver
print(before, type(reactor.resolver).__name__, isinstance(reactor.resolver, CachingThreadedResolver),
      reactor.resolver.timeout, reactor.getThreadPool().max)
"""


def test_a_long_lived_runner_resolves_through_scrapys_caching_resolver(tmp_path: Path) -> None:
    # The daemon runs its own reactor: AsyncCrawlerProcess.start() never installs the resolver there,
    # and every connection resolved its host uncached, ignoring DNS_TIMEOUT. Scrapy's caching resolver,
    # guarded by the address policy.
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
    )
    (tmp_path / "settings.yaml").write_text("timeout: 12\n")
    out = subprocess.run(
        [sys.executable, "-c", RESOLVER_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.split() == ["ComplexResolverSimplifier", "GuardedResolver", "True", "12.0", "10"]


def test_the_dns_cache_is_emptied_every_ten_minutes() -> None:
    # Scrapy's cache never expires; a daemon would keep a moved site's old address until restarted.
    from scrapy.resolver import dnscache

    from crawler.runner import DNS_CACHE_SECONDS, expire_dns_cache

    start = time.monotonic() + 10 * DNS_CACHE_SECONDS
    assert expire_dns_cache(start)
    dnscache["www.hespress.com"] = "192.0.2.1"
    assert not expire_dns_cache(start + DNS_CACHE_SECONDS - 1) and "www.hespress.com" in dnscache
    assert expire_dns_cache(start + DNS_CACHE_SECONDS) and "www.hespress.com" not in dnscache


def test_alerts_retry_touches_only_failed_or_dead_deliveries(tmp_path: Path) -> None:
    # A pending delivery waits for its digest or the end of quiet hours: retrying it sent it at once.
    import sqlite3

    from crawler.archive.articles import Archive

    Archive.open(tmp_path / "v.db").close()
    conn = sqlite3.connect(tmp_path / "v.db")
    conn.execute("PRAGMA foreign_keys = OFF")
    for ident, status in (("aaaa1111", "pending"), ("bbbb2222", "failed"), ("cccc3333", "suppressed")):
        conn.execute(
            "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, topics, "
            "status, due_at, created_at) VALUES (?, 'w', ?, 'email', 1, '[1]', '[\"ia\"]', ?, "
            "'2030-01-01T07:00:00Z', '2026-01-01T00:00:00Z')",
            [ident, ident, status],
        )
    conn.commit()
    env = {"VEILLE_DB": str(tmp_path / "v.db")}
    failed = run("--config", str(ROOT / "config"), "alerts", "retry", "bbbb", env=env)
    assert failed.exit_code == 0 and failed.output.strip() == "1 delivery due again"
    pending = run("--config", str(ROOT / "config"), "alerts", "retry", "aaaa", env=env)
    assert pending.exit_code == 1 and "delivery 'aaaa' is pending, not failed or dead" in pending.output
    wildcard = run("--config", str(ROOT / "config"), "alerts", "retry", "%", env=env)  # not a LIKE pattern
    assert wildcard.exit_code == 1 and "no delivery id starts with '%'" in wildcard.output
    typo = run("--config", str(ROOT / "config"), "alerts", "retry", "zzzz", env=env)
    assert typo.exit_code == 1 and "no delivery id starts with 'zzzz'" in typo.output
    suppressed = run("--config", str(ROOT / "config"), "alerts", "retry", "cccc", env=env)
    assert suppressed.exit_code == 1 and "is suppressed" in suppressed.output
    rows = dict(conn.execute("SELECT id, due_at FROM deliveries").fetchall())
    assert rows["aaaa1111"] == "2030-01-01T07:00:00Z" and rows["bbbb2222"] < "2030"
    unknown = run("--config", str(ROOT / "config"), "alerts", "--watcher", "nobody", env=env)
    assert (
        unknown.exit_code == 1
        and "--watcher 'nobody': no such watcher and no delivery for it" in unknown.output
    )
    conn.close()
