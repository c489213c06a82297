"""`veille serve`: Datasette metadata whose canned queries all run, read-only, on a real archive."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from alerts.matcher import Matcher
from alerts.outbox import matching
from crawler.archive.articles import Archive
from crawler.cli.serve import (
    HIDDEN,
    QUERIES,
    TABLES,
    datasette_metadata,
    prepare_connection,
    serve,
    veille_fts,
)
from crawler.config import config_dir as resolve_config_dir
from crawler.config import load_config
from crawler.config.topics import Topic, make_term
from crawler.config.watchers import Watcher
from crawler.items import ArticleItem
from crawler.pipelines import build_record
from crawler.runs import SourceRun

ROOT = Path(__file__).parent.parent
REAL = json.loads(
    (Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json").read_text("utf-8")
)
WIRE = next(a["content"] for a in REAL if "الذكاء الاصطناعي" in a["content"] and len(a["content"]) > 2000)
OTHER = next(a["content"] for a in REAL if len(a["content"]) > 3000 and a["content"] != WIRE)
MATCHER = Matcher(
    [
        Topic(name="ia", title="IA", any=(make_term("الذكاء الاصطناعي", frozenset()),)),
        Topic(name="maroc", title="Maroc", any=(make_term("Maroc", frozenset()),)),
    ]
)
WATCHERS = (Watcher(name="cellule", title="cellule", topics=("ia",), email=("a@x.ma",)),)
SOURCES = "sources:\n" + "".join(
    f'  - name: {name}\n    languages: [{lang}]\n    feeds: ["https://{name}.ma/feed"]\n'
    for name, lang in (("wire-ar", "ar"), ("reprint-ar", "ar"), ("news-fr", "fr"))
)
# Datasette passes an empty string for each parameter left out of the URL.
SAMPLES: dict[str, list[dict[str, str]]] = {
    "latest_articles": [
        {"source": "", "language": ""},
        {"source": "news-fr", "language": ""},
        {"source": "", "language": "ar"},
    ],
    "topic_matches": [{"topic": "ia"}, {"topic": ""}],
    "topics": [{}],
    "search": [{"q": "الاصطناعي"}, {"q": "MAROC numerique"}, {"q": ""}],
    "source_health": [{}],
    "multi_outlet_stories": [{}],
    "unsent_deliveries": [{}],
}


def item(source: str, url: str, title: str, body: str, language: str) -> ArticleItem:
    return ArticleItem(source=source, url=url, title=title, body=body, language=language)


def run(source: str, ok: bool) -> SourceRun:
    done = SourceRun(
        source=source,
        run_id="r1",
        started_at="2026-11-25T10:00:00Z",
        finished_at="2026-11-25T10:01:00Z",
        found=1,
        new=1,
        routes_ok=int(ok),
    )
    if not ok:
        done.fail("https://news-fr.ma/feed: HTTP 500")
    return done


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "settings.yaml").write_text(f"database: {tmp_path / 'v.db'}\n", "utf-8")
    (directory / "sources.yaml").write_text(SOURCES, "utf-8")
    return directory


@pytest.fixture
def archive_path(tmp_path: Path, config_dir: Path) -> Path:
    archive = Archive.open(tmp_path / "v.db")
    archive.sync_sources(load_config(config_dir).sources)
    archive.store_many(
        [
            build_record(item("wire-ar", "https://wire-ar.ma/a-11111", "الذكاء الاصطناعي", WIRE, "ar")),
            build_record(
                item(
                    "reprint-ar",
                    "https://reprint-ar.ma/b-22222",
                    "نسخة",
                    "وكالة المغرب العربي للأنباء. " + WIRE,
                    "ar",
                )
            ),
            build_record(
                item(
                    "news-fr",
                    "https://news-fr.ma/c-33333",
                    "Le Maroc numérique",
                    "Le Maroc numérique avance. " + OTHER,
                    "fr",
                )
            ),
        ],
        matching(MATCHER, WATCHERS),
    )
    archive.record_run(run("wire-ar", ok=True))
    archive.record_run(run("news-fr", ok=False))
    archive.db.execute("UPDATE deliveries SET status = 'dead', attempts = 8, last_error = 'SMTP 550'")
    archive.close()
    return tmp_path / "v.db"


def read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    prepare_connection(conn)
    return conn


def test_metadata_names_the_database_and_its_canned_queries(config_dir: Path) -> None:
    metadata = datasette_metadata(load_config(config_dir))
    assert metadata["title"] == "Veille"
    [(name, database)] = metadata["databases"].items()
    assert name == "v"
    assert set(database["queries"]) == set(SAMPLES)
    assert all(
        database["tables"][table]["hidden"]
        for table in ("story_bands", "article_keys", "_sqlite_migrations", "articles_fts_data")
    )
    assert database["tables"]["articles"]["fts_table"] == "articles_fts"
    assert not any(query.get("write") for query in database["queries"].values())
    json.dumps(metadata)


def test_hidden_and_described_tables_exist(archive_path: Path) -> None:
    with read_only(archive_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(HIDDEN) | set(TABLES) <= tables


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_canned_query_runs_read_only(archive_path: Path, name: str) -> None:
    sql = QUERIES[name]["sql"]
    assert sql.lstrip().upper().startswith("SELECT")
    with read_only(archive_path) as conn:
        for params in SAMPLES[name]:
            assert set(params) == set(QUERIES[name].get("params", []))
            conn.execute(sql, params).fetchall()


def rows(archive_path: Path, name: str, **params: str) -> list[dict]:
    with read_only(archive_path) as conn:
        return [dict(row) for row in conn.execute(QUERIES[name]["sql"], params)]


def test_latest_articles_filter_by_source_and_language(archive_path: Path) -> None:
    assert [r["source"] for r in rows(archive_path, "latest_articles", source="", language="")] == [
        "news-fr",
        "reprint-ar",
        "wire-ar",
    ]
    assert [r["id"] for r in rows(archive_path, "latest_articles", source="news-fr", language="")] == [3]
    assert [r["id"] for r in rows(archive_path, "latest_articles", source="", language="ar")] == [2, 1]


def test_topic_matches_and_topics(archive_path: Path) -> None:
    ia = rows(archive_path, "topic_matches", topic="ia")
    assert {r["source"] for r in ia} == {"wire-ar", "reprint-ar"}
    assert ia[0]["terms"] == "الذكاء الاصطناعي" and ia[0]["url"].startswith("https://")
    assert {r["topic"] for r in rows(archive_path, "topic_matches", topic="")} == {"ia", "maroc"}
    counts = {r["topic"]: (r["last_24h"], r["total"]) for r in rows(archive_path, "topics")}
    assert counts == {"ia": (2, 2), "maroc": (1, 1)}


def test_search_folds_like_veille_search(archive_path: Path) -> None:
    assert {r["id"] for r in rows(archive_path, "search", q="الإصطناعي")} == {1, 2}  # hamza folded
    assert {r["id"] for r in rows(archive_path, "search", q="ذكاء")} == {1, 2}  # with the article attached
    [fr] = rows(archive_path, "search", q="MAROC numerique")
    assert fr["id"] == 3 and "[maroc]" in fr["snippet"]
    assert rows(archive_path, "search", q="") == [] and veille_fts("  ") == '""'


def test_source_health_lists_failing_sources_first(archive_path: Path) -> None:
    health = rows(archive_path, "source_health")
    assert [r["name"] for r in health] == ["news-fr", "reprint-ar", "wire-ar"]
    assert (health[0]["consecutive_failures"], health[0]["last_error"]) == (
        1,
        "https://news-fr.ma/feed: HTTP 500",
    )
    assert health[2]["last_success"] == "2026-11-25T10:01:00Z" and health[2]["articles_24h"] == 1


def test_multi_outlet_stories_and_unsent_deliveries(archive_path: Path) -> None:
    [story] = rows(archive_path, "multi_outlet_stories")
    assert (story["outlets"], story["articles"]) == (2, 2)
    assert set(story["sources"].split(",")) == {"wire-ar", "reprint-ar"}
    [delivery] = rows(archive_path, "unsent_deliveries")
    assert (delivery["status"], delivery["watcher"], delivery["topics"]) == ("dead", "cellule", "ia")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SHIM = "from tests.test_serve import click_group; click_group()()"


def veille_command() -> list[str]:
    from crawler.cli import main

    return [sys.executable, "-m", "crawler.cli"] if "serve" in main.commands else [sys.executable, "-c", SHIM]


def get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_veille_serve_answers_with_the_canned_queries(archive_path: Path, config_dir: Path) -> None:
    pytest.importorskip("datasette")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*veille_command(), "--config", str(config_dir), "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "VEILLE_DB": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read().decode()
            try:
                status, page = get(base + "/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "veille serve did not start"
                time.sleep(0.2)
        assert status == 200 and b"Veille" in page
        status, body = get(
            base + "/v/search.json?q=%D8%A7%D9%84%D8%A5%D8%B5%D8%B7%D9%86%D8%A7%D8%B9%D9%8A&_shape=array"
        )
        assert status == 200 and {row["id"] for row in json.loads(body)} == {1, 2}
        status, body = get(base + "/v/source_health.json?_shape=array")
        assert next(row["name"] for row in json.loads(body)) == "news-fr"
    finally:
        server.terminate()
        server.wait(timeout=15)
        server.stdout.close()


def click_group() -> click.Group:
    """`veille` with only `serve`, until crawler/cli.py registers it."""

    @click.group()
    @click.option("--config", "config_option")
    @click.pass_context
    def main(ctx: click.Context, config_option: str | None) -> None:
        ctx.obj = {"config_dir": resolve_config_dir(config_option)}

    main.add_command(serve)
    return main


def invoke(config_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        click_group(), ["--config", str(config_dir), "serve", *args], env={"VEILLE_DB": ""}
    )


def test_serve_without_an_archive_is_a_clean_error(config_dir: Path) -> None:
    result = invoke(config_dir)
    assert result.exit_code == 1
    assert "v.db: no archive yet (hint: run veille crawl first)" in result.output


def test_serve_without_datasette_says_how_to_install_it(
    archive_path: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasette.cli", None)
    result = invoke(config_dir)
    assert result.exit_code == 1
    assert "Datasette is not installed (hint: .venv/bin/pip install -e '.[serve]')" in result.output


def test_serve_on_a_taken_port_is_a_clean_error(archive_path: Path, config_dir: Path) -> None:
    pytest.importorskip("datasette")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(config_dir, "--port", str(port))
    assert result.exit_code == 1
    assert (
        f"cannot listen on 127.0.0.1:{port}: Address already in use (hint: choose another --port)"
        in result.output
    )
