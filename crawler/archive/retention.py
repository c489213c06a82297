"""The retention job: prune what the archive no longer needs, then give the space back."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler.archive.search import reindex
from crawler.config.settings import MIN_BODY_DAYS
from crawler.extract.dates import format_utc
from crawler.extract.digest import indexed_texts

BATCH = 500


@dataclass
class Pruned:
    """What one retention run removed."""

    bodies: int = 0
    versions: int = 0
    runs: int = 0
    attempts: int = 0
    notices: int = 0
    bands: int = 0
    vacuumed: bool = False

    def describe(self) -> str:
        """One log line."""
        return (
            f"retention: {self.bodies} bodies, {self.versions} old versions, {self.runs} crawl runs, "
            f"{self.attempts} delivery attempts, {self.notices} notices, {self.bands} story bands pruned"
            + ("; database vacuumed" if self.vacuumed else "")
        )


def prune(
    conn: sqlite3.Connection, now: datetime, body_days: int, keep_days: int, story_window_days: int
) -> Pruned:
    """Prune bodies older than `body_days` (0: never), history older than `keep_days`, and story
    bands past the story window; VACUUM when a quarter of the file is free."""
    done = Pruned()
    if body_days:
        cutoff = format_utc(now - timedelta(days=max(body_days, MIN_BODY_DAYS)))
        done.bodies = _prune_bodies(conn, cutoff)
        done.versions = conn.execute(
            "UPDATE article_versions SET body = NULL WHERE replaced_at < ? AND body IS NOT NULL", [cutoff]
        ).rowcount
    history = format_utc(now - timedelta(days=keep_days))
    done.runs = conn.execute("DELETE FROM crawl_runs WHERE started_at < ?", [history]).rowcount
    done.attempts = conn.execute("DELETE FROM delivery_attempts WHERE attempted_at < ?", [history]).rowcount
    done.notices = conn.execute(
        "DELETE FROM notices WHERE created_at < ? AND status IN ('sent', 'suppressed', 'no-admin', 'dead')",
        [history],
    ).rowcount
    # A page that failed long ago and was never listed again (its wait is a week at most).
    conn.execute("DELETE FROM page_failures WHERE last_failed_at < ?", [history])
    bands = format_utc(now - timedelta(days=story_window_days + 1))
    done.bands = conn.execute("DELETE FROM story_bands WHERE seen_at < ?", [bands]).rowcount
    conn.commit()
    free, pages = (conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("freelist_count", "page_count"))
    if pages and free * 4 >= pages:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # else the WAL file keeps the old size
        done.vacuumed = True
    return done


def _prune_bodies(conn: sqlite3.Connection, cutoff: str) -> int:
    """Drop old bodies, re-indexing those articles on their title and summary; one batch per commit,
    so crawls keep writing meanwhile."""
    total = 0
    while True:
        rows = conn.execute(
            "SELECT id, title, summary FROM articles WHERE first_seen < ? AND body IS NOT NULL LIMIT ?",
            [cutoff, BATCH],
        ).fetchall()
        if not rows:
            return total
        conn.executemany("UPDATE articles SET body = NULL WHERE id = ?", [[r[0]] for r in rows])
        reindex(conn, {row[0]: indexed_texts(row[1], row[2], None) for row in rows})
        conn.commit()
        total += len(rows)
