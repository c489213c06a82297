"""A source's health facts and its open problems, as the archive keeps them (the SQL half of the
health job; crawler/daemon/health.py decides, crawler/daemon/healthcheck.py wires the two)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler.extract.dates import format_utc, parse_utc

HISTORY_ROWS = 1000


@dataclass(frozen=True)
class Seen:
    """One archived article, as health needs it: when it appeared, and whether it came out whole."""

    published: datetime  # its date, or when we found it if it had none (never later than that)
    found: datetime
    complete: bool


@dataclass(frozen=True)
class Facts:
    """A source's state: failures from its crawl runs, articles of the last 30 days, newest first."""

    name: str
    consecutive_failures: int
    last_error: str | None
    articles: tuple[Seen, ...]
    last_success: datetime | None = None  # the last crawl that worked: silence is what it confirmed


@dataclass(frozen=True)
class OpenProblem:
    """One problem of a source still open in the archive: kind, what was said, when it was raised."""

    kind: str
    detail: str
    raised_at: str


def load_facts(conn: sqlite3.Connection, name: str, now: datetime) -> Facts:
    """A source's crawl failures and its articles of the last 30 days, newest first."""
    row = conn.execute(
        "SELECT consecutive_failures, last_error, last_success FROM sources WHERE name = ?", [name]
    ).fetchone()
    rows = conn.execute(
        # `body <> ''` stops at the first byte; length(body) would count every character of every body.
        "SELECT published_at, first_seen, body IS NOT NULL AND body <> '' AND published_at IS NOT NULL "
        "FROM articles WHERE source = ? AND first_seen >= ? ORDER BY first_seen DESC, id DESC LIMIT ?",
        [name, format_utc(now - timedelta(days=30)), HISTORY_ROWS],
    ).fetchall()
    articles = tuple(
        Seen(min(parse_utc(published or found), parse_utc(found)), parse_utc(found), bool(complete))
        for published, found, complete in rows
    )
    last_success = parse_utc(row[2]) if row and row[2] else None
    return Facts(name, row[0] if row else 0, row[1] if row else None, articles, last_success)


def open_problems(conn: sqlite3.Connection, source: str) -> list[OpenProblem]:
    """The source's open problems."""
    rows = conn.execute(
        "SELECT kind, detail, raised_at FROM source_problems WHERE source = ?", [source]
    ).fetchall()
    return [OpenProblem(*row) for row in rows]


@contextmanager
def changing_problems(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction for a source's raised and cleared problems and the notices they queue:
    committed on leaving, rolled back on an error."""
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.commit()


def raise_problem(conn: sqlite3.Connection, source: str, kind: str, detail: str, raised_at: str) -> None:
    """Open a problem of the source (inside `changing_problems`)."""
    conn.execute(
        "INSERT INTO source_problems (source, kind, detail, raised_at) VALUES (?, ?, ?, ?)",
        [source, kind, detail, raised_at],
    )


def clear_problem(conn: sqlite3.Connection, source: str, kind: str) -> None:
    """Close a problem of the source (inside `changing_problems`)."""
    conn.execute("DELETE FROM source_problems WHERE source = ? AND kind = ?", [source, kind])


def forget_sources(conn: sqlite3.Connection, watched: set[str]) -> list[str]:
    """Close the open problems of sources no longer crawled (disabled or removed); return their names."""
    names = [r[0] for r in conn.execute("SELECT DISTINCT source FROM source_problems") if r[0] not in watched]
    conn.executemany("DELETE FROM source_problems WHERE source = ?", [(n,) for n in names])
    conn.commit()
    return names
