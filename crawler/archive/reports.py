"""Read-only views of the archive: source health, articles for backtests and `veille try`, and the
canned queries `veille serve` gives Datasette."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

DAY_AGO = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')"
WEEK_AGO = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')"


@dataclass(frozen=True)
class ArticleText:
    """An archived article's text and where it comes from, as matching reads it."""

    title: str | None
    summary: str | None
    body: str | None
    language: str | None
    source: str


@dataclass(frozen=True)
class SourceHealth:
    """One row of `veille sources`."""

    name: str
    languages: str
    last_success: str | None
    last_error: str | None
    consecutive_failures: int
    articles_24h: int
    articles_total: int
    not_modified_rate: float | None


def source_health(db: Database, names: list[str], since_24h: str) -> list[SourceHealth]:
    """Health of the named sources, in config order, from the sources, routes and articles tables."""
    rows = {
        r[0]: r
        for r in db.execute(
            "SELECT s.name, s.languages, s.last_success, s.last_error, s.consecutive_failures, "
            "(SELECT COUNT(*) FROM articles a WHERE a.source = s.name AND a.first_seen >= ?), "
            "(SELECT COUNT(*) FROM articles a WHERE a.source = s.name), "
            "(SELECT CAST(SUM(not_modified) AS REAL) / NULLIF(SUM(fetches), 0) FROM routes r "
            " WHERE r.source = s.name) FROM sources s",
            [since_24h],
        ).fetchall()
    }
    out = []
    for name in names:
        row = rows.get(name) or (name, "", None, None, 0, 0, 0, None)
        out.append(SourceHealth(*row))
    return out


def read_article(db: Database, article_id: int) -> ArticleText | None:
    """The article's text, or None when the archive has no such article."""
    row = db.execute(
        "SELECT title, summary, body, language, source FROM articles WHERE id = ?", [article_id]
    ).fetchone()
    return None if row is None else ArticleText(*row)


def has_articles(db: Database, source: str) -> bool:
    """Whether the archive holds an article of the source (configured or not, any more)."""
    return db.execute("SELECT 1 FROM articles WHERE source = ? LIMIT 1", [source]).fetchone() is not None


def read_articles(db: Database, since: str | None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Articles (id, source, title, summary, body, language, url, day) published or first seen since
    `since` (every one when None), newest first: what a backtest runs over."""
    where, params = ("WHERE COALESCE(published_at, first_seen) >= ?", [since]) if since else ("", [])
    sql = (
        f"SELECT id, source, title, summary, body, language, url, "
        f"COALESCE(published_at, first_seen) AS day FROM articles {where} ORDER BY day DESC"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    yield from db.query(sql, params)


# The canned queries `veille serve` gives Datasette: title, description, parameters, SQL.
CANNED_QUERIES: dict[str, dict[str, Any]] = {
    "latest_articles": {
        "title": "Latest articles",
        "description": "The 200 articles seen last; leave a field empty for every source or language.",
        "params": ["source", "language"],
        # id order is first_seen order, and needs no index.
        "sql": """SELECT a.id, a.first_seen, a.published_at, a.source, a.language, a.title, a.url, a.story_id
FROM articles a
WHERE (:source = '' OR a.source = :source) AND (:language = '' OR a.language = :language)
ORDER BY a.id DESC
LIMIT 200""",
    },
    "topic_matches": {
        "title": "Matches by topic",
        "description": "Articles that matched a topic (empty: every topic), newest first, with the terms.",
        "params": ["topic"],
        "sql": """SELECT m.matched_at, m.topic, a.source, a.language, a.title, a.url,
  (SELECT group_concat(value, ', ') FROM json_each(m.terms)) AS terms,
  (SELECT group_concat(value, ', ') FROM json_each(m.fields)) AS fields,
  a.id AS article_id, a.story_id
FROM matches m JOIN articles a ON a.id = m.article_id
WHERE :topic = '' OR m.topic = :topic
ORDER BY m.matched_at DESC, m.article_id DESC
LIMIT 200""",
    },
    "topics": {
        "title": "Topics",
        "description": "Matches per topic: in the last 24 hours, 7 days, in all, and the last one.",
        "sql": f"""SELECT topic, SUM(matched_at >= {DAY_AGO}) AS last_24h,
  SUM(matched_at >= {WEEK_AGO}) AS last_7d, COUNT(*) AS total, MAX(matched_at) AS last_match
FROM matches
GROUP BY topic
ORDER BY last_match DESC""",
    },
    "search": {
        "title": "Full-text search",
        "description": "Every word required; case, accents, Arabic diacritics, hamza forms and clitics "
        "folded as in `veille search`. Snippets show the normalised text.",
        "params": ["q"],
        # veille_fts() is registered by `veille serve` (prepare_connection in crawler/cli/serve.py): it
        # turns the words into the MATCH expression `veille search` uses, so Arabic clitics and hamza
        # forms still match.
        "sql": """SELECT a.id, a.published_at, a.source, a.language, a.title, a.url,
  snippet(articles_fts, 1, '[', ']', ' … ', 12) AS snippet
FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
WHERE articles_fts MATCH veille_fts(:q)
ORDER BY bm25(articles_fts, 5.0, 1.0), a.published_at DESC
LIMIT 100""",
    },
    "source_health": {
        "title": "Source health",
        "description": "Failing sources first: last success, failures in a row, last error, articles in 24h.",
        "sql": f"""SELECT s.name, s.languages, s.last_success, s.consecutive_failures, s.last_error,
  s.last_error_at,
  (SELECT COUNT(*) FROM articles a WHERE a.source = s.name AND a.first_seen >= {DAY_AGO}) AS articles_24h,
  (SELECT COUNT(*) FROM articles a WHERE a.source = s.name) AS articles_total,
  (SELECT ROUND(100.0 * SUM(r.not_modified) / NULLIF(SUM(r.fetches), 0)) FROM routes r
   WHERE r.source = s.name) AS not_modified_pct
FROM sources s
ORDER BY s.consecutive_failures DESC, s.last_success IS NOT NULL, s.last_success, s.name""",
    },
    "multi_outlet_stories": {
        "title": "Stories carried by several outlets",
        "description": "Stories (reprints and wire copies, grouped by similarity) seen on several sources.",
        # article_count > 1 first: most stories are single articles, so the join stays small.
        "sql": """SELECT s.id AS story_id, s.title, COUNT(DISTINCT a.source) AS outlets, COUNT(*) AS articles,
  group_concat(DISTINCT a.source) AS sources, s.first_seen, MAX(a.first_seen) AS last_seen
FROM stories s JOIN articles a ON a.story_id = s.id
WHERE s.article_count > 1
GROUP BY s.id
HAVING COUNT(DISTINCT a.source) > 1
ORDER BY last_seen DESC
LIMIT 200""",
    },
    "unsent_deliveries": {
        "title": "Unsent alerts",
        "description": "Deliveries still pending, failed (retried later) or dead (given up): dead first.",
        "sql": """SELECT d.status, d.watcher, d.channel, d.due_at, d.attempts, d.last_error,
  (SELECT group_concat(value, ', ') FROM json_each(d.topics)) AS topics, a.title, a.url,
  d.created_at, d.id
FROM deliveries d LEFT JOIN articles a ON a.id = d.article_id
WHERE d.status IN ('pending', 'failed', 'dead')
ORDER BY CASE d.status WHEN 'dead' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, d.due_at
LIMIT 500""",
    },
}
