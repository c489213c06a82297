"""Writing what matching found, inside the archive's transaction: matches, and the deliveries owed."""

from __future__ import annotations

import json
import sqlite3

from alerts.matcher import Article, Matcher, match_row
from alerts.outbox import Owed, owed
from crawler.config.watchers import Watcher
from crawler.extract.dates import format_utc, utc_now, utc_now_iso


def save_matches(
    conn: sqlite3.Connection,
    article_id: int,
    matcher: Matcher,
    normalized: tuple[str, str, str] | None = None,
) -> set[str]:
    """Match the article; return the topics it matches for the first time (a topic it still
    matches keeps its first matched_at and owes no second alert). `normalized`: its title,
    summary and body already normalised, when the caller has them."""
    row = conn.execute(
        "SELECT title, summary, body, language, source, version FROM articles WHERE id = ?", [article_id]
    ).fetchone()
    article = Article(row[0] or "", row[1] or "", row[2] or "", row[3], row[4], normalized)
    found = {m.topic: m for m in matcher.match(article)}
    known = {r[0] for r in conn.execute("SELECT topic FROM matches WHERE article_id = ?", [article_id])}
    conn.executemany(
        "DELETE FROM matches WHERE article_id = ? AND topic = ?",
        [(article_id, topic) for topic in known - found.keys()],
    )
    now = utc_now_iso()
    for match in found.values():
        conn.execute(
            "INSERT INTO matches (article_id, topic, terms, fields, spans, article_version, matched_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(article_id, topic) DO UPDATE SET "
            "terms = excluded.terms, fields = excluded.fields, spans = excluded.spans, "
            "article_version = excluded.article_version",
            [article_id, *match_row(match), row[5], now],
        )
    return set(found) - known


def owe(
    conn: sqlite3.Connection,
    article_id: int,
    story_id: int | None,
    topics: set[str],
    watchers: tuple[Watcher, ...],
) -> None:
    """Write the deliveries the new matches owe, in this transaction: one per watcher, story and
    channel; a reprint joins a delivery still pending, and nothing follows one already sent."""
    source, language = conn.execute(
        "SELECT source, language FROM articles WHERE id = ?", [article_id]
    ).fetchone()
    story_key = f"story:{story_id}" if story_id is not None else f"article:{article_id}"
    now = utc_now()
    for watcher in watchers:
        followed = sorted(t for t in topics if watcher.follows(t, source, language))
        for delivery in owed(watcher, story_key, now) if followed else ():
            _add_delivery(conn, delivery, article_id, followed, format_utc(now))


def _add_delivery(
    conn: sqlite3.Connection, delivery: Owed, article_id: int, topics: list[str], now: str
) -> None:
    row = conn.execute(
        "SELECT status, articles, topics FROM deliveries WHERE id = ?", [delivery.id]
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, topics, "
            "status, due_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            [
                delivery.id,
                delivery.watcher,
                delivery.story_key,
                delivery.channel,
                article_id,
                json.dumps([article_id]),
                json.dumps(topics),
                format_utc(delivery.due_at),
                now,
            ],
        )
    elif row[0] == "pending":
        articles = list(dict.fromkeys([*json.loads(row[1]), article_id]))
        merged = sorted({*json.loads(row[2]), *topics})
        conn.execute(
            "UPDATE deliveries SET articles = ?, topics = ? WHERE id = ?",
            [json.dumps(articles), json.dumps(merged, ensure_ascii=False), delivery.id],
        )
