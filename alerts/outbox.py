"""The deliveries a match owes: one per watcher, story and channel, due when the watcher wants it.

Decided here; the rows are written by crawler/archive/outbox.py inside the archive's write
transaction, through the `after_store` hook that `matching()` builds."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.channels import SmtpSettings
from alerts.matcher import Article, Matcher, match_row
from crawler.archive.articles import AfterStore, StoreResult
from crawler.archive.outbox import Owed, add_delivery, article_to_match, move_waiting, save_matches
from crawler.config.watchers import SECRET, Secret, Watcher
from crawler.extract.dates import format_utc, utc_now
from crawler.extract.digest import Texts

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAMESPACE = uuid.UUID("6b1d7f52-4c4e-4f0a-9a53-76656c6c6531")  # fixed: delivery ids never change


def channels_of(watcher: Watcher) -> list[str]:
    """The watcher's channels, named as deliveries record them."""
    names = ["email"] if watcher.email else []
    names += ["webhook"] if watcher.webhook else []
    return names + [f"apprise:{i}" for i in range(len(watcher.apprise))]


def apprise_of(watcher: Watcher, channel: str) -> Secret | None:
    """The Apprise URL an 'apprise:N' channel names, or None if the watcher no longer has it."""
    if not channel.startswith("apprise:"):
        return None
    index = int(channel.split(":", 1)[1])
    return watcher.apprise[index] if index < len(watcher.apprise) else None


def settle(
    ok: bool, attempts: int, max_attempts: int, retry_seconds: int, now: datetime, jitter: Callable[[], float]
) -> tuple[str, datetime | None]:
    """What a send attempt makes of a queued alert or notice: 'sent'; 'dead' after max_attempts; or
    'failed', due again after a backoff doubled at each attempt, plus up to 25% jitter."""
    if ok:
        return "sent", None
    if attempts >= max_attempts:
        return "dead", None
    delay = retry_seconds * 2 ** (attempts - 1) * (1 + 0.25 * jitter())
    return "failed", now + timedelta(seconds=delay)


def delivery_id(watcher: str, story_key: str, channel: str) -> str:
    """A stable id for (watcher, story, channel): a receiver can drop a repeated message by it."""
    return str(uuid.uuid5(NAMESPACE, f"{watcher}\n{story_key}\n{channel}"))


def owed(watcher: Watcher, story_key: str, now: datetime) -> list[Owed]:
    """The deliveries one story owes a watcher, one per channel, all due at the same time."""
    due = due_time(watcher, now)
    return [
        Owed(delivery_id(watcher.name, story_key, channel), watcher.name, story_key, channel, due)
        for channel in channels_of(watcher)
    ]


def timing(watcher: Watcher) -> tuple[str, str | None, str]:
    """What decides when a watcher's deliveries are due."""
    return watcher.mode, watcher.quiet_hours, watcher.timezone


def reschedule_pending(conn: sqlite3.Connection, watchers: Iterable[Watcher], now: datetime) -> int:
    """Move the watchers' deliveries that wait and were never tried to when their timing now says:
    an edit of quiet hours or digest mode also applies to what already waits. One already due
    stays due (a digest the daemon was down for goes out now, not at the next one). How many moved."""
    return sum(move_waiting(conn, w.name, due_time(w, now), now) for w in watchers)


def matching(matcher: Matcher, watchers: tuple[Watcher, ...] = ()) -> AfterStore:
    """The hook the archive calls for each article it stores, inside its write transaction: match
    the new or changed article and write its matches and the deliveries they owe, so the outbox
    is written atomically with the article."""

    def after_store(conn: sqlite3.Connection, result: StoreResult, texts: Texts | None) -> None:
        if result.outcome == "duplicate":
            return
        title, summary, body, language, source, version = article_to_match(conn, result.article_id)
        article = Article(title or "", summary or "", body or "", language, source, texts)
        found = {row[0]: row[1:] for row in map(match_row, matcher.match(article))}
        now = utc_now()
        new_topics = save_matches(conn, result.article_id, version, found, format_utc(now))
        if new_topics and watchers:
            owe(conn, result, source, language, new_topics, watchers, now)

    return after_store


def owe(
    conn: sqlite3.Connection,
    result: StoreResult,
    source: str,
    language: str | None,
    topics: set[str],
    watchers: tuple[Watcher, ...],
    now: datetime,
) -> None:
    """Write the deliveries the new matches owe: one per watcher, story and channel; a reprint
    joins a delivery still pending, and nothing follows one already sent."""
    story = f"story:{result.story_id}" if result.story_id is not None else f"article:{result.article_id}"
    for watcher in watchers:
        followed = sorted(t for t in topics if watcher.follows(t, source, language))
        for delivery in owed(watcher, story, now) if followed else ():
            add_delivery(conn, delivery, result.article_id, followed, format_utc(now))


def due_time(watcher: Watcher, now: datetime) -> datetime:
    """When a delivery made now is due: at once, at the next digest, or when quiet hours end (UTC)."""
    zone = ZoneInfo(watcher.timezone)
    local = now.astimezone(zone)
    if watcher.mode == "hourly":
        local = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    elif watcher.mode.startswith(("daily ", "weekly ")):
        local = _next_digest(watcher.mode, local)
    return _after_quiet_hours(watcher.quiet_hours, local, zone).astimezone(now.tzinfo)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _next_digest(mode: str, local: datetime) -> datetime:
    parts = mode.split()
    at = _clock(parts[-1])
    candidate = datetime.combine(local.date(), at, local.tzinfo)
    days = 1
    if parts[0] == "weekly":
        ahead = (WEEKDAYS.index(parts[1]) - local.weekday()) % 7
        candidate += timedelta(days=ahead)
        days = 7
    while candidate <= local:
        candidate += timedelta(days=days)
    return candidate


def _after_quiet_hours(quiet: str | None, local: datetime, zone: ZoneInfo) -> datetime:
    if not quiet:
        return local
    start, end = (_clock(part) for part in quiet.split("-"))
    now = local.time().replace(tzinfo=None)
    inside = (start <= now < end) if start < end else (now >= start or now < end)
    if not inside:
        return local
    day = local.date() if now < end else local.date() + timedelta(days=1)
    # Built from the wall clock in the zone, so a Ramadan change of offset is respected.
    return datetime.combine(day, end, zone)


@dataclass(frozen=True)
class Policy:
    """Retry policy and channel settings."""

    smtp: SmtpSettings
    max_attempts: int = 8
    retry_seconds: int = 60
    timeout: float = 15
    lease_seconds: int = 300  # how long a sender owns what it claimed


def policy_from(settings: object, environ: dict[str, str]) -> Policy:
    """The dispatch policy from settings.yaml; ${VARIABLE} in smtp_password is read from the environment."""
    password = SECRET.sub(lambda m: environ.get(m.group(1), ""), settings.smtp_password)
    smtp = SmtpSettings(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_tls,
        settings.smtp_user,
        password,
        settings.smtp_from,
        float(settings.delivery_timeout),
        settings.smtp_ca_file,
    )
    return Policy(
        smtp,
        settings.delivery_max_attempts,
        settings.delivery_retry_seconds,
        float(settings.delivery_timeout),
        settings.lease_seconds,
    )
