"""Sources and their crawl runs: the rows `sources` and `status` read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from crawler.archive.transaction import write_transaction
from crawler.runs import SourceRun


def sync_sources(db: Database, sources: Iterable[Any]) -> None:
    """Make sure every configured source has its row."""
    with write_transaction(db.conn):
        for source in sources:
            db.execute(
                "INSERT INTO sources (name, title, languages) VALUES (?, ?, ?) ON CONFLICT(name) "
                "DO UPDATE SET title = excluded.title, languages = excluded.languages",
                [source.name, source.title, ",".join(source.languages)],
            )


def record_run(db: Database, run: SourceRun) -> None:
    """Store one source's crawl outcome and update its health row."""
    error = "; ".join(run.messages) or None
    # BEGIN IMMEDIATE: insert() reads the table first, and a deferred transaction that has read
    # cannot start writing after another connection committed ("database is locked" at once,
    # whatever the busy timeout).
    with write_transaction(db.conn):
        db["crawl_runs"].insert(
            {
                "run_id": run.run_id,
                "source": run.source,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "status": run.status,
                "found": run.found,
                "new": run.new,
                "duplicate": run.duplicate,
                "updated": run.updated,
                "not_modified": run.not_modified,
                "errors": run.errors,
                "error": error,
            }
        )
        if run.interrupted:  # neither a success nor a failure of the source: only an attempt
            db.execute("UPDATE sources SET last_attempt = ? WHERE name = ?", [run.finished_at, run.source])
        elif run.succeeded:
            db.execute(
                "UPDATE sources SET last_attempt = ?, last_success = ?, consecutive_failures = 0"
                " WHERE name = ?",
                [run.finished_at, run.finished_at, run.source],
            )
        else:
            db.execute(
                "UPDATE sources SET last_attempt = ?, last_error = ?, last_error_at = ?, "
                "consecutive_failures = consecutive_failures + 1 WHERE name = ?",
                [run.finished_at, error, run.finished_at, run.source],
            )
        if run.succeeded and error:
            db.execute(
                "UPDATE sources SET last_error = ?, last_error_at = ? WHERE name = ?",
                [error, run.finished_at, run.source],
            )
