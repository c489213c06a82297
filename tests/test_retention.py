"""The retention job on a real archive: old bodies, runs and bands go; titles, matches and search stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.archive.articles import Archive
from crawler.archive.retention import prune
from crawler.archive.search import search
from crawler.extract.dates import format_utc
from crawler.items import ArticleItem
from crawler.pipelines import build_record

BODY = (
    "Le Maroc accélère sa stratégie d'intelligence artificielle avec un nouveau centre de calcul "
    "installé à Benguerir, selon le ministère de la transition numérique. "
) * 8


def test_old_bodies_are_dropped_but_the_article_stays_searchable_by_title(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    item = ArticleItem(
        source="s",
        url="https://a.ma/x-11111",
        title="Un centre de calcul à Benguerir",
        body=BODY,
        language="fr",
    )
    archive.store(build_record(item))
    conn = archive.db.conn
    conn.execute("UPDATE articles SET first_seen = ?", [format_utc(datetime.now(UTC) - timedelta(days=100))])
    conn.execute(
        "INSERT INTO crawl_runs (run_id, source, started_at, status) VALUES ('r', 's', "
        "'2020-01-01T00:00:00Z', 'ok')"
    )
    conn.commit()
    done = prune(conn, datetime.now(UTC), body_days=60, keep_days=90, story_window_days=7)
    assert (done.bodies, done.runs) == (1, 1)
    assert conn.execute("SELECT title, body FROM articles").fetchone() == (
        "Un centre de calcul à Benguerir",
        None,
    )
    assert [hit.title for hit in search(archive.db, "Benguerir")] == ["Un centre de calcul à Benguerir"]
    assert search(archive.db, "ministère") == []  # the body is no longer indexed
    assert "1 bodies" in done.describe()


def test_bodies_are_kept_when_pruning_is_off_or_within_a_month(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    archive.store(build_record(ArticleItem(source="s", url="https://a.ma/y-22222", title="t", body=BODY)))
    conn = archive.db.conn
    conn.execute("UPDATE articles SET first_seen = ?", [format_utc(datetime.now(UTC) - timedelta(days=20))])
    conn.commit()
    assert prune(conn, datetime.now(UTC), 0, 90, 7).bodies == 0
    assert prune(conn, datetime.now(UTC), 10, 90, 7).bodies == 0  # health needs a month of bodies
    assert conn.execute("SELECT body IS NOT NULL FROM articles").fetchone() == (1,)
