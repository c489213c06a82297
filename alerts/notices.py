"""Admin notices (a source down or back, a broken config edit, dead deliveries): an outbox of their own.

A notice is written once per key (uuid5 of key, admin watcher and channel), so a daemon that restarts
or re-checks never repeats it; alerts/dispatch.py sends it, retried like an alert when a channel is down.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from alerts.outbox import NAMESPACE, channels_of
from alerts.render import new_message, safe_data
from crawler.archive.outbox import add_notices
from crawler.config.watchers import Watcher
from crawler.extract.cleaning import safe_text
from crawler.extract.dates import format_utc

SCHEMA = "veille.notice/1"


@dataclass(frozen=True)
class Notice:
    """Something the admin must know: `key` identifies it (the same key is never sent twice)."""

    key: str
    kind: str
    subject: str
    body: str


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
    return add_notices(
        conn,
        (
            {
                "id": notice_id(notice.key, watcher, channel),
                "key": notice.key,
                "kind": notice.kind,
                "subject": notice.subject,
                "body": notice.body,
                "watcher": watcher,
                "channel": channel,
                "status": status,
                "due_at": format_utc(now),
                "created_at": format_utc(now),
            }
            for watcher, channel in targets
        ),
    )


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
