"""The outbox's rows: matches, the deliveries and notices they owe, their claims and their ledger.

A sender claims a row before it sends it: the row moves to 'sending' with the sender's name and a
lease, in one statement that only one sender can win. The outcome is written by that owner only,
and a row whose owner died is due again when its lease ends. The statements are plain SQL that
PostgreSQL also runs (RETURNING, no SQLite-only syntax in the claim).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crawler.archive.transaction import write_transaction
from crawler.extract.dates import format_utc

TABLES = ("deliveries", "notices")
WAITING = ("pending", "failed")  # due when due_at has come


@dataclass(frozen=True)
class Owed:
    """One delivery to write: who, which story, which channel, when."""

    id: str
    watcher: str
    story_key: str
    channel: str
    due_at: datetime


@dataclass(frozen=True)
class Queued:
    """A delivery or notice that is due, or claimed: what a sender needs to send it."""

    table: str
    id: str
    watcher: str
    channel: str
    attempts: int
    status: str
    claimed_by: str | None
    article_id: int | None = None  # deliveries
    topics: tuple[str, ...] = ()
    key: str = ""  # notices
    kind: str = ""
    subject: str = ""
    body: str = ""


@dataclass(frozen=True)
class Settlement:
    """A send's outcome, to be written on its row and in the ledger by the row's owner."""

    table: str
    id: str
    owner: str
    channel: str
    ok: bool
    status: str
    attempts: int
    error: str | None
    at: datetime
    due: datetime | None


# -- matches ----------------------------------------------------------------------------------------


def article_to_match(conn: sqlite3.Connection, article_id: int) -> tuple[Any, ...]:
    """The fields matching reads: title, summary, body, language, source, version."""
    return conn.execute(
        "SELECT title, summary, body, language, source, version FROM articles WHERE id = ?", [article_id]
    ).fetchone()


def save_matches(
    conn: sqlite3.Connection, article_id: int, version: int, found: dict[str, tuple[str, str, str]], now: str
) -> set[str]:
    """Write the topics an article matches now ({topic: (terms, fields, spans) as JSON}), drop those
    it no longer matches; return the topics matched for the first time (a topic it still matches
    keeps its first matched_at and owes no second alert)."""
    known = {r[0] for r in conn.execute("SELECT topic FROM matches WHERE article_id = ?", [article_id])}
    conn.executemany(
        "DELETE FROM matches WHERE article_id = ? AND topic = ?",
        [(article_id, topic) for topic in known - found.keys()],
    )
    for topic, (terms, fields, spans) in found.items():
        conn.execute(
            "INSERT INTO matches (article_id, topic, terms, fields, spans, article_version, matched_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(article_id, topic) DO UPDATE SET "
            "terms = excluded.terms, fields = excluded.fields, spans = excluded.spans, "
            "article_version = excluded.article_version",
            [article_id, topic, terms, fields, spans, version, now],
        )
    return set(found) - known


def add_delivery(
    conn: sqlite3.Connection, delivery: Owed, article_id: int, topics: list[str], now: str
) -> None:
    """Write a delivery the match owes; a reprint joins a delivery still pending, and nothing
    follows one already sent (or being sent)."""
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


# -- what an alert shows -----------------------------------------------------------------------------


def alert_content(
    conn: sqlite3.Connection, article_id: int, topics: Iterable[str]
) -> tuple[dict[str, Any], tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """An alert's article, its matches for `topics` (terms and spans decoded), and the story's
    articles on other sites, oldest first."""
    topics = list(topics)
    conn.row_factory = sqlite3.Row
    try:
        article = dict(
            conn.execute(
                "SELECT id, url, title, source, language, published_at, author, summary, body, story_id "
                "FROM articles WHERE id = ?",
                [article_id],
            ).fetchone()
        )
        marks = ",".join("?" * len(topics))
        rows = conn.execute(
            f"SELECT topic, terms, spans FROM matches WHERE article_id = ? "
            f"AND topic IN ({marks}) ORDER BY topic",
            [article_id, *topics],
        )
        matches = tuple(
            {"topic": r["topic"], "terms": json.loads(r["terms"]), "spans": json.loads(r["spans"])}
            for r in rows
        )
        others = (
            tuple(
                dict(r)
                for r in conn.execute(
                    "SELECT source, url, title FROM articles WHERE story_id = ? AND id != ? "
                    "ORDER BY first_seen",
                    [article["story_id"], article_id],
                )
            )
            if article["story_id"] is not None
            else ()
        )
    finally:
        conn.row_factory = None
    return article, matches, others


def sent_since(conn: sqlite3.Connection, watcher: str, since: datetime) -> int:
    """How many deliveries a watcher was sent after `since`."""
    return conn.execute(
        "SELECT COUNT(*) FROM deliveries WHERE watcher = ? AND status = 'sent' AND sent_at > ?",
        [watcher, format_utc(since)],
    ).fetchone()[0]


# -- notices ------------------------------------------------------------------------------------------


def add_notices(conn: sqlite3.Connection, rows: Iterable[dict[str, str]]) -> int:
    """Queue notice rows (id, key, kind, subject, body, watcher, channel, status, due_at,
    created_at); one whose id exists is not queued again. How many were new."""
    created = 0
    with write_transaction(conn):
        for row in rows:
            cursor = conn.execute(
                "INSERT INTO notices (id, key, kind, subject, body, watcher, channel, status, due_at, "
                "created_at) VALUES (:id, :key, :kind, :subject, :body, :watcher, :channel, :status, "
                ":due_at, :created_at) ON CONFLICT (id) DO NOTHING",
                row,
            )
            created += cursor.rowcount
    return created


# -- claims, outcomes and the ledger -----------------------------------------------------------------


def due(conn: sqlite3.Connection, table: str, now: datetime) -> list[Queued]:
    """The rows of `deliveries` or `notices` a sender may claim at `now`: waiting and due, or
    claimed by a sender whose lease has ended; and every row still claimed, with its owner (a
    sender may know that owner is dead). Oldest due first."""
    columns = "article_id, topics" if table == "deliveries" else "key, kind, subject, body"
    rows = conn.execute(
        f"SELECT id, watcher, channel, attempts, status, claimed_by, {columns} FROM {_table(table)} "
        "WHERE (status IN ('pending', 'failed') AND due_at <= ?) OR status = 'sending' "
        "ORDER BY due_at, id",
        [format_utc(now)],
    ).fetchall()
    return [_queued(table, row) for row in rows]


def claim(
    conn: sqlite3.Connection,
    table: str,
    ids: Iterable[str],
    owner: str,
    now: datetime,
    until: datetime,
    dead_owners: Iterable[str] = (),
) -> list[Queued]:
    """Claim rows for `owner` until `until`, in one transaction: only a row still due, or whose
    claim has expired or belongs to one of `dead_owners`, is taken. Returns those taken, as they
    are now (another sender may have sent one in between); the others belong to someone else."""
    at, dead = format_utc(now), list(dead_owners)
    stale = f" OR claimed_by IN ({','.join('?' * len(dead))})" if dead else ""
    columns = "article_id, topics" if table == "deliveries" else "key, kind, subject, body"
    taken = []
    with write_transaction(conn):
        for row_id in ids:
            row = conn.execute(
                f"UPDATE {_table(table)} SET status = 'sending', claimed_by = ?, claimed_until = ? "
                f"WHERE id = ? AND ((status IN ('pending', 'failed') AND due_at <= ?) "
                f"OR (status = 'sending' AND (claimed_until <= ?{stale}))) "
                f"RETURNING id, watcher, channel, attempts, status, claimed_by, {columns}",
                [owner, format_utc(until), row_id, at, at, *dead],
            ).fetchone()
            if row is not None:
                taken.append(_queued(table, row))
    return taken


def settle(conn: sqlite3.Connection, settlements: Iterable[Settlement]) -> None:
    """Write send outcomes: one ledger line per delivery attempt, and the row's new status, due
    time and attempts, written only while `owner` still holds the claim. Committed before the next
    send, so a crash can only repeat the message in flight."""
    with write_transaction(conn):
        for s in settlements:
            if s.table == "deliveries":
                conn.execute(
                    "INSERT INTO delivery_attempts (delivery_id, attempted_at, channel, outcome, error) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [s.id, format_utc(s.at), s.channel, "sent" if s.ok else "failed", s.error],
                )
            sent = s.status == "sent"
            conn.execute(
                f"UPDATE {_table(s.table)} SET status = ?, attempts = ?, last_error = ?, "
                "sent_at = COALESCE(?, sent_at), due_at = COALESCE(?, due_at), "
                "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                [
                    s.status,
                    s.attempts,
                    None if sent else s.error,
                    format_utc(s.at) if sent else None,
                    format_utc(s.due) if s.due else None,
                    s.id,
                    s.owner,
                ],
            )


def finish(conn: sqlite3.Connection, table: str, row_id: str, status: str, error: str | None) -> None:
    """Close a row without sending it (its watcher is gone: 'suppressed')."""
    with write_transaction(conn):
        conn.execute(
            f"UPDATE {_table(table)} SET status = ?, last_error = ?, claimed_by = NULL, "
            "claimed_until = NULL WHERE id = ?",
            [status, error, row_id],
        )


def postpone(conn: sqlite3.Connection, row_id: str, until: datetime) -> None:
    """Make a delivery wait (its watcher's cap per hour is reached), released from its claim."""
    with write_transaction(conn):
        conn.execute(
            "UPDATE deliveries SET due_at = ?, status = CASE WHEN attempts > 0 THEN 'failed' "
            "ELSE 'pending' END, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            [format_utc(until), row_id],
        )


def move_waiting(conn: sqlite3.Connection, watcher: str, due_at: datetime, now: datetime) -> int:
    """Move a watcher's deliveries that wait and were never tried to `due_at`; one already due
    stays due. How many moved."""
    due_text = format_utc(due_at)
    with write_transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET due_at = ? WHERE watcher = ? AND status = 'pending' "
            "AND attempts = 0 AND due_at > ? AND due_at != ?",
            [due_text, watcher, format_utc(now), due_text],
        ).rowcount


# -- what `veille alerts` shows and retries -----------------------------------------------------------


def recent_deliveries(
    conn: sqlite3.Connection, watcher: str | None, topic: str | None, state: str | None, limit: int
) -> list[tuple[Any, ...]]:
    """The latest deliveries, newest first: id, watcher, channel, status, attempts, due, sent,
    topics (JSON), the article's title, the last error."""
    where, params = [], []
    for column, value in (("d.watcher", watcher), ("d.status", state)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if topic:
        where.append("d.topics LIKE ?")
        params.append(f'%"{topic}"%')
    sql = (
        "SELECT d.id, d.watcher, d.channel, d.status, d.attempts, d.due_at, d.sent_at, d.topics, "
        "a.title, d.last_error FROM deliveries d JOIN articles a ON a.id = d.article_id "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY d.created_at DESC LIMIT ?"
    )
    return conn.execute(sql, [*params, limit]).fetchall()


def retry_deliveries(conn: sqlite3.Connection, prefix: str | None, now: datetime) -> int:
    """Make failed or dead deliveries whose id starts with `prefix` (None: every dead one) due
    again now, with their attempts reset. How many."""
    with write_transaction(conn):
        if prefix is None:
            return conn.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ? WHERE status = 'dead'",
                [format_utc(now)],
            ).rowcount
        return conn.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ? "
            "WHERE substr(id, 1, ?) = ? AND status IN ('failed', 'dead')",
            [format_utc(now), len(prefix), prefix],
        ).rowcount


def statuses_of(conn: sqlite3.Connection, prefix: str) -> list[str]:
    """The statuses of the deliveries whose id starts with `prefix`."""
    return sorted(
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT status FROM deliveries WHERE substr(id, 1, ?) = ?", [len(prefix), prefix]
        )
    )


def _table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"not an outbox table: {table}")
    return table


def _queued(table: str, row: tuple[Any, ...]) -> Queued:
    base = row[:6]
    if table == "deliveries":
        return Queued(table, *base, article_id=row[6], topics=tuple(json.loads(row[7])))
    return Queued(table, *base, key=row[6], kind=row[7], subject=row[8], body=row[9])
