"""Fetch state of routes and article pages: validators, Retry-After, fetch records, page back-off."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlite_utils import Database

from crawler.extract.dates import format_utc, utc_now, utc_now_iso

# A failed article page waits 1 h, then 4 h, 16 h, 64 h, then a week between tries: a deleted article
# or a link robots.txt forbids is not requested at every poll (nor does it keep its feed from 304s).
PAGE_RETRY_HOURS = 1
PAGE_RETRY_MAX_DAYS = 7


def retry_after_until(db: Database, url: str) -> str | None:
    """Until when the server of this route asked us not to come back, if it did."""
    row = db.execute("SELECT retry_after_until FROM routes WHERE url = ?", [url]).fetchone()
    return row[0] if row else None


def set_retry_after(db: Database, url: str, source: str, kind: str, seconds: float) -> None:
    """Remember a long Retry-After: the route is skipped until then."""
    until = format_utc(utc_now() + timedelta(seconds=seconds))
    db.execute(
        "INSERT INTO routes (url, source, kind, retry_after_until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(url) DO UPDATE SET retry_after_until = excluded.retry_after_until",
        [url, source, kind, until],
    )


def validators(db: Database, url: str) -> tuple[str | None, str | None]:
    """The ETag and Last-Modified last seen for a feed or sitemap URL."""
    row = db.execute("SELECT etag, last_modified FROM routes WHERE url = ?", [url]).fetchone()
    return (row[0], row[1]) if row else (None, None)


def save_validators(db: Database, url: str, etag: str | None, last_modified: str | None) -> None:
    """Keep a route's ETag and Last-Modified for the next conditional GET."""
    db.execute(
        "UPDATE routes SET etag = COALESCE(?, etag), "
        "last_modified = COALESCE(?, last_modified) WHERE url = ?",
        [etag, last_modified, url],
    )


def record_fetch(
    db: Database,
    url: str,
    source: str,
    kind: str,
    status: int | None,
    etag: str | None = None,
    last_modified: str | None = None,
    error: str | None = None,
) -> None:
    """Remember a feed/sitemap fetch: status, validators for the next conditional GET."""
    now = utc_now_iso()
    db.execute(
        "INSERT INTO routes (url, source, kind, last_status, last_fetch_at, fetches, not_modified, "
        "etag, last_modified, last_error) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?) "
        "ON CONFLICT(url) DO UPDATE SET source = excluded.source, kind = excluded.kind, "
        "last_status = excluded.last_status, last_fetch_at = excluded.last_fetch_at, "
        "fetches = fetches + 1, not_modified = not_modified + excluded.not_modified, "
        "etag = COALESCE(excluded.etag, etag), "
        "last_modified = COALESCE(excluded.last_modified, last_modified), "
        "last_error = excluded.last_error",
        [url, source, kind, status, now, int(status == 304), etag, last_modified, error],
    )


def record_page_failure(
    db: Database, key: str, url: str, source: str, error: str, now: datetime | None = None
) -> str:
    """Remember that an article page failed; it waits PAGE_RETRY_HOURS × 4 per failure before
    it is tried again (at most PAGE_RETRY_MAX_DAYS). Returns when it may be tried again."""
    now = now or utc_now()
    row = db.execute("SELECT failures FROM page_failures WHERE key = ?", [key]).fetchone()
    failures = (row[0] if row else 0) + 1
    wait = min(timedelta(hours=PAGE_RETRY_HOURS * 4 ** (failures - 1)), timedelta(days=PAGE_RETRY_MAX_DAYS))
    retry_at = format_utc(now + wait)
    # One statement, committed at once by sqlite-utils, as record_fetch: the spider writes
    # on the reactor and must not hold a transaction the writer thread would wait for.
    db.execute(
        "INSERT INTO page_failures (key, url, source, failures, last_error, last_failed_at, "
        "retry_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
        "failures = excluded.failures, "
        "last_error = excluded.last_error, last_failed_at = excluded.last_failed_at, "
        "retry_at = excluded.retry_at",
        [key, url, source, failures, error, format_utc(now), retry_at],
    )
    return retry_at


def page_retry_at(db: Database, keys: Iterable[str]) -> str | None:
    """When an article page that failed may be tried again (None: it never failed)."""
    keys = list(keys)
    if not keys:
        return None
    marks = ",".join("?" * len(keys))
    row = db.execute(f"SELECT MAX(retry_at) FROM page_failures WHERE key IN ({marks})", keys).fetchone()
    return row[0] if row else None


def forget_page_failures(db: Database, keys: Iterable[str]) -> None:
    """The page worked: its failures are history."""
    keys = list(keys)
    if keys:
        db.execute(f"DELETE FROM page_failures WHERE key IN ({','.join('?' * len(keys))})", keys)
