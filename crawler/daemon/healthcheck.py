"""The source-health job's I/O: read a source's facts, keep its open problems, tell the admin once."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from alerts.notices import Notice, raise_notice
from crawler.config.watchers import Watcher
from crawler.daemon.health import Facts, Seen, Thresholds, assess, changes
from crawler.extract.dates import format_utc, parse_utc

LABELS = {"failing": "down", "silent": "silent", "yield": "losing article text"}
HISTORY_ROWS = 1000


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


def forget_sources(conn: sqlite3.Connection, watched: set[str]) -> list[str]:
    """Close the open problems of sources no longer crawled (disabled or removed); return their names."""
    names = [r[0] for r in conn.execute("SELECT DISTINCT source FROM source_problems") if r[0] not in watched]
    conn.executemany("DELETE FROM source_problems WHERE source = ?", [(n,) for n in names])
    conn.commit()
    return names


def check_source(
    conn: sqlite3.Connection,
    name: str,
    thresholds: Thresholds,
    watchers: dict[str, Watcher],
    now: datetime,
    facts: Facts | None = None,
) -> list[str]:
    """Assess one source (from `facts` when the caller already loaded them); record raised and cleared
    problems and queue one notice for each. Returns one log line per change."""
    found = assess(facts or load_facts(conn, name, now), thresholds, now)
    open_rows = conn.execute(
        "SELECT kind, detail, raised_at FROM source_problems WHERE source = ?", [name]
    ).fetchall()
    raised, cleared = changes({kind: detail for kind, detail, _ in open_rows}, found)
    since = {kind: raised_at for kind, _, raised_at in open_rows}
    lines = []
    for problem in raised:
        stamp = format_utc(now)
        conn.execute(
            "INSERT INTO source_problems (source, kind, detail, raised_at) VALUES (?, ?, ?, ?)",
            [name, problem.kind, problem.detail, stamp],
        )
        notice = Notice(
            f"source:{name}:{problem.kind}:{stamp}",
            f"source-{problem.kind}",
            f"source {name} is {LABELS[problem.kind]}",
            f"Source {name}: {problem.detail}.\n\n`veille sources` and `veille status` show "
            "every source's last result. You will get one more message when it recovers.",
        )
        raise_notice(conn, notice, watchers, now)
        lines.append(f"source {name} is {LABELS[problem.kind]}: {problem.detail}")
    for kind in cleared:
        conn.execute("DELETE FROM source_problems WHERE source = ? AND kind = ?", [name, kind])
        notice = Notice(
            f"source:{name}:{kind}:{since[kind]}:recovered",
            f"source-{kind}-recovered",
            f"source {name} has recovered",
            f"Source {name} is no longer {LABELS[kind]} (since {since[kind]}).",
        )
        raise_notice(conn, notice, watchers, now)
        lines.append(f"source {name} recovered: no longer {LABELS[kind]}")
    conn.commit()
    return lines
