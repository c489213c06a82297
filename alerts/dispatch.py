"""Sending the deliveries that are due: retries with backoff, a cap per hour, and a ledger of attempts.

Delivery is at least once: each send is recorded right after it returns, so a crash in between can
only repeat that one message, with the same delivery id.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.channels import (
    Outcome,
    guarded,
    not_retried,
    send_apprise,
    send_email,
    send_webhook,
)
from alerts.notices import Notice, raise_notice, save_settlement, send_notices
from alerts.outbox import Policy, apprise_of, policy_from, settle
from alerts.render import Alert, digest_message, email_message, plain_text, subject, webhook_payload
from crawler.archive.articles import Archive
from crawler.archive.state import read_status
from crawler.config import Config
from crawler.config.watchers import Watcher
from crawler.extract.dates import format_utc


@dataclass
class Dispatched:
    """What one dispatch pass did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    notices: int = 0
    errors: list[str] = field(default_factory=list)
    left_to_daemon: bool = False  # a command found the daemon running and sent nothing


def dispatch_once(archive: Archive, config: Config, now: datetime) -> Dispatched:
    """One pass as a command runs it (`veille crawl`, `veille alerts send`), so a cron job gets its
    alerts without the daemon; nothing when a daemon runs (two senders could send one alert twice)."""
    if read_status(archive.db.conn).running(now):
        return Dispatched(left_to_daemon=True)
    policy = policy_from(config.settings, dict(os.environ))
    return dispatch_due(archive.db.conn, config.watchers_by_name(), policy, now)


def dispatch_due(
    conn: sqlite3.Connection,
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float] = random.random,
    stopping: Callable[[], bool] = lambda: False,
) -> Dispatched:
    """Send every delivery due at `now`; record each attempt; schedule retries or give up.
    `stopping()` ends the pass between two sends (the rest stays due)."""
    result = Dispatched()
    try:
        _dispatch(conn, watchers, policy, now, jitter, stopping, result)
    finally:  # whatever ended the pass, the deliveries it gave up on are told to the admin
        if result.dead:
            _notice_dead(conn, watchers, now, result)
    if not stopping():
        notices = send_notices(conn, watchers, policy, now, jitter, stopping)
        result.notices = notices.sent
    return result


def _dispatch(
    conn: sqlite3.Connection,
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float],
    stopping: Callable[[], bool],
    result: Dispatched,
) -> None:
    rows = conn.execute(
        "SELECT id, watcher, channel, article_id, topics, attempts FROM deliveries "
        "WHERE status IN ('pending', 'failed') AND due_at <= ? ORDER BY due_at, id",
        [format_utc(now)],
    ).fetchall()
    rows = _send_digests(conn, rows, watchers, policy, now, jitter, result)
    for delivery_id, name, channel, article_id, topics, attempts in rows:
        if stopping():
            return
        watcher = watchers.get(name)
        if watcher is None or not watcher.enabled:
            _finish(conn, delivery_id, "suppressed", "the watcher was removed or disabled")
            continue
        if _capped(conn, watcher, now):
            conn.execute(
                "UPDATE deliveries SET due_at = ? WHERE id = ?",
                [format_utc(now + timedelta(minutes=10)), delivery_id],
            )
            conn.commit()
            result.postponed += 1
            continue
        alert = load_alert(conn, delivery_id, name, article_id, json.loads(topics))
        outcome = send(watcher, channel, alert, policy)
        _record(conn, delivery_id, channel, outcome, attempts + 1, policy, now, jitter, result)


def _notice_dead(
    conn: sqlite3.Connection, watchers: dict[str, Watcher], now: datetime, result: Dispatched
) -> None:
    dead = [e for e in result.errors if " is dead after " in e]
    text = (
        "Veille gave up on these deliveries; `veille alerts retry --dead` sends them again once the "
        "channel works.\n\n" + "\n".join(dead)
    )
    key = "dead:" + ",".join(sorted(e.split()[1] for e in dead))
    subject = f"{len(dead)} alert(s) could not be delivered"
    raise_notice(conn, Notice(key, "dead-deliveries", subject, text), watchers, now)


def _send_digests(
    conn: sqlite3.Connection,
    rows: list[tuple],
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float],
    result: Dispatched,
) -> list[tuple]:
    """Send the due email deliveries of digest watchers as one message each; return the other rows."""
    digests: dict[str, list[tuple]] = {}
    rest = []
    for row in rows:
        watcher = watchers.get(row[1])
        if watcher is not None and watcher.enabled and watcher.mode != "instant" and row[2] == "email":
            digests.setdefault(watcher.name, []).append(row)
        else:
            rest.append(row)
    for name, members in digests.items():
        watcher = watchers[name]
        alerts = [load_alert(conn, r[0], name, r[3], json.loads(r[4])) for r in members]
        message = digest_message(alerts, name, policy.smtp.sender, list(watcher.email))
        outcome = guarded(f"digest of {name}", send_email, policy.smtp, message)
        for row in members:
            _record(conn, row[0], "email", outcome, row[5] + 1, policy, now, jitter, result)
    return rest


def send(watcher: Watcher, channel: str, alert: Alert, policy: Policy) -> Outcome:
    """Send one alert through one of the watcher's channels; never raises."""
    return guarded(f"{channel} of {watcher.name}", _send, watcher, channel, alert, policy)


def _send(watcher: Watcher, channel: str, alert: Alert, policy: Policy) -> Outcome:
    if channel == "email":
        return send_email(policy.smtp, email_message(alert, policy.smtp.sender, list(watcher.email)))
    if channel == "webhook" and watcher.webhook is not None:
        return send_webhook(
            watcher.webhook.url.value,
            watcher.webhook.secret.value,
            webhook_payload(alert),
            alert.delivery_id,
            policy.timeout,
            shown=str(watcher.webhook.url),
        )
    url = apprise_of(watcher, channel)
    if url is not None:
        return send_apprise(url.value, subject(alert), plain_text(alert), str(url))
    return Outcome(False, f"watcher {watcher.name} has no channel {channel} any more")


def load_alert(
    conn: sqlite3.Connection, delivery_id: str, watcher: str, article_id: int, topics: list[str]
) -> Alert:
    """The alert's content from the archive: the article, its matches, the story's other sites."""
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
    return Alert(delivery_id, watcher, tuple(topics), article, matches, others)


def _capped(conn: sqlite3.Connection, watcher: Watcher, now: datetime) -> bool:
    if not watcher.max_per_hour:
        return False
    sent = conn.execute(
        "SELECT COUNT(*) FROM deliveries WHERE watcher = ? AND status = 'sent' AND sent_at > ?",
        [watcher.name, format_utc(now - timedelta(hours=1))],
    ).fetchone()[0]
    return sent >= watcher.max_per_hour


def _record(
    conn: sqlite3.Connection,
    delivery_id: str,
    channel: str,
    outcome: Outcome,
    attempts: int,
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float],
    result: Dispatched,
) -> None:
    conn.execute(
        "INSERT INTO delivery_attempts (delivery_id, attempted_at, channel, outcome, error) "
        "VALUES (?, ?, ?, ?, ?)",
        [delivery_id, format_utc(now), channel, "sent" if outcome.ok else "failed", outcome.error],
    )
    status, due = settle(outcome.ok, attempts, policy.max_attempts, policy.retry_seconds, now, jitter)
    setattr(result, status, getattr(result, status) + 1)
    error = not_retried(outcome.error or "") if status == "dead" else outcome.error  # it is not, any more
    if status == "dead":
        result.errors.append(f"delivery {delivery_id} is dead after {attempts} attempts: {error}")
    elif status == "failed":
        result.errors.append(f"delivery {delivery_id}: {error}")
    save_settlement(conn, "deliveries", delivery_id, status, attempts, error, now, due)
    conn.commit()  # before the next send: a crash can only repeat the message in flight


def _finish(conn: sqlite3.Connection, delivery_id: str, status: str, error: str) -> None:
    conn.execute(
        "UPDATE deliveries SET status = ?, last_error = ? WHERE id = ?", [status, error, delivery_id]
    )
    conn.commit()


def sample_alert(watcher: Watcher) -> Alert:
    """A made-up alert for `veille alerts test`: it shows what a real one looks like."""
    body = "Test de Veille : le Maroc mise sur l’intelligence artificielle. اختبار: الذكاء الاصطناعي."
    start = body.index("intelligence artificielle")
    span = {
        "term": "intelligence artificielle",
        "field": "body",
        "start": start,
        "end": start + len("intelligence artificielle"),
        "text": "intelligence artificielle",
    }
    article = {
        "id": 0,
        "url": "https://example.ma/veille-test",
        "title": "Test de Veille / اختبار",
        "source": "veille",
        "language": "fr",
        "published_at": None,
        "body": body,
    }
    return Alert(
        f"test-{watcher.name}",
        watcher.name,
        watcher.topics[:1],
        article,
        ({"topic": watcher.topics[0], "terms": ["intelligence artificielle"], "spans": [span]},),
    )
