"""Admin notices (a source down or back, a broken config edit, dead deliveries): an outbox of their own.

A notice is written once per key (uuid5 of key, admin watcher and channel), so a daemon that restarts
or re-checks never repeats it, and it is retried like an alert when a channel is down.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from alerts.channels import Outcome, guarded, send_apprise, send_email, send_webhook
from alerts.outbox import NAMESPACE, apprise_of, channels_of, settle
from alerts.render import new_message, safe_data
from crawler.config.watchers import Watcher
from crawler.extract.cleaning import safe_text
from crawler.extract.dates import format_utc

if TYPE_CHECKING:
    from alerts.outbox import Policy

SCHEMA = "veille.notice/1"


@dataclass(frozen=True)
class Notice:
    """Something the admin must know: `key` identifies it (the same key is never sent twice)."""

    key: str
    kind: str
    subject: str
    body: str


@dataclass
class NoticesSent:
    """What one pass over the due notices did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def notice_id(key: str, watcher: str, channel: str) -> str:
    """The stable id of one notice to one admin channel."""
    return str(uuid.uuid5(NAMESPACE, f"notice\n{key}\n{watcher}\n{channel}"))


def raise_notice(
    conn: sqlite3.Connection, notice: Notice, watchers: dict[str, Watcher], now: datetime
) -> int:
    """Queue a notice for every channel of every enabled admin watcher; return how many were new.

    Without an admin watcher the notice is still recorded (status 'no-admin') for `veille status`.
    """
    admins = [w for w in watchers.values() if w.admin and w.enabled]
    targets = [(w.name, channel) for w in admins for channel in channels_of(w)] or [("", "none")]
    status = "pending" if admins else "no-admin"
    created = 0
    for watcher, channel in targets:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO notices (id, key, kind, subject, body, watcher, channel, status, due_at, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                notice_id(notice.key, watcher, channel),
                notice.key,
                notice.kind,
                notice.subject,
                notice.body,
                watcher,
                channel,
                status,
                format_utc(now),
                format_utc(now),
            ],
        )
        created += cursor.rowcount
    conn.commit()
    return created


def notice_email(notice: Notice, sender: str, to: list[str]) -> EmailMessage:
    """The plain-text email of a notice."""
    message = new_message()
    message["Subject"] = f"[Veille] {notice.subject}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(safe_text(notice.body) + "\n")
    return message


def notice_payload(notice: Notice, delivery: str) -> bytes:
    """The JSON body of schema veille.notice/1."""
    data = {
        "schema": SCHEMA,
        "delivery_id": delivery,
        "kind": notice.kind,
        "key": notice.key,
        "subject": notice.subject,
        "body": notice.body,
    }
    return json.dumps(safe_data(data), ensure_ascii=False, sort_keys=True).encode("utf-8")


def send_notices(
    conn: sqlite3.Connection,
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float] = random.random,
    stopping: Callable[[], bool] = lambda: False,
) -> NoticesSent:
    """Send the notices that are due; a failure is retried with backoff, like an alert."""
    result = NoticesSent()
    rows = conn.execute(
        "SELECT id, key, kind, subject, body, watcher, channel, attempts FROM notices "
        "WHERE status IN ('pending', 'failed') AND due_at <= ? ORDER BY due_at, id",
        [format_utc(now)],
    ).fetchall()
    for row_id, key, kind, subject, body, name, channel, attempts in rows:
        if stopping():
            break
        watcher = watchers.get(name)
        if watcher is None or not watcher.enabled or not watcher.admin:
            conn.execute("UPDATE notices SET status = 'suppressed' WHERE id = ?", [row_id])
            conn.commit()
            continue
        notice = Notice(key, kind, subject, body)
        outcome = guarded(f"notice {channel} of {name}", _send, watcher, channel, notice, row_id, policy)
        _record(conn, row_id, outcome, attempts + 1, policy, now, jitter, result)
    return result


def _send(watcher: Watcher, channel: str, notice: Notice, row_id: str, policy: Policy) -> Outcome:
    if channel == "email":
        return send_email(policy.smtp, notice_email(notice, policy.smtp.sender, list(watcher.email)))
    if channel == "webhook" and watcher.webhook is not None:
        return send_webhook(
            watcher.webhook.url.value,
            watcher.webhook.secret.value,
            notice_payload(notice, row_id),
            row_id,
            policy.timeout,
            shown=str(watcher.webhook.url),
        )
    url = apprise_of(watcher, channel)
    if url is not None:
        return send_apprise(url.value, f"[Veille] {notice.subject}", notice.body, str(url))
    return Outcome(False, f"watcher {watcher.name} has no channel {channel} any more")


def _record(
    conn: sqlite3.Connection,
    row_id: str,
    outcome: Outcome,
    attempts: int,
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float],
    result: NoticesSent,
) -> None:
    status, due = settle(outcome.ok, attempts, policy.max_attempts, policy.retry_seconds, now, jitter)
    setattr(result, status, getattr(result, status) + 1)
    save_settlement(conn, "notices", row_id, status, attempts, outcome.error, now, due)
    conn.commit()


def save_settlement(
    conn: sqlite3.Connection,
    table: str,
    row_id: str,
    status: str,
    attempts: int,
    error: str | None,
    now: datetime,
    due: datetime | None,
) -> None:
    """Write a send attempt's outcome on a row of `deliveries` or `notices` (same columns)."""
    sent = status == "sent"
    conn.execute(
        f"UPDATE {table} SET status = ?, attempts = ?, last_error = ?, "
        "sent_at = COALESCE(?, sent_at), due_at = COALESCE(?, due_at) WHERE id = ?",
        [
            status,
            attempts,
            None if sent else error,
            format_utc(now) if sent else None,
            format_utc(due) if due else None,
            row_id,
        ],
    )
