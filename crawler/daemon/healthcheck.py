"""The source-health job: assess a source from its archived facts, keep its open problems, tell the
admin once. The SQL is in crawler/archive/health.py, the decisions in crawler/daemon/health.py."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from alerts.notices import Notice, raise_notice
from crawler.archive.health import (
    Facts,
    changing_problems,
    clear_problem,
    load_facts,
    open_problems,
    raise_problem,
)

# scheduler.py imports load_facts and forget_sources from here, not from the archive, for now.
from crawler.archive.health import forget_sources as forget_sources
from crawler.config.watchers import Watcher
from crawler.daemon.health import Thresholds, assess, changes
from crawler.extract.dates import format_utc

LABELS = {"failing": "down", "silent": "silent", "yield": "losing article text"}


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
    known = open_problems(conn, name)
    raised, cleared = changes({p.kind: p.detail for p in known}, found)
    since = {p.kind: p.raised_at for p in known}
    lines = []
    with changing_problems(conn):
        for problem in raised:
            stamp = format_utc(now)
            raise_problem(conn, name, problem.kind, problem.detail, stamp)
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
            clear_problem(conn, name, kind)
            notice = Notice(
                f"source:{name}:{kind}:{since[kind]}:recovered",
                f"source-{kind}-recovered",
                f"source {name} has recovered",
                f"Source {name} is no longer {LABELS[kind]} (since {since[kind]}).",
            )
            raise_notice(conn, notice, watchers, now)
            lines.append(f"source {name} recovered: no longer {LABELS[kind]}")
    return lines
