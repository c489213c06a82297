"""Sending the deliveries and admin notices that are due: claims, retries with backoff, a cap per
hour, and a ledger of attempts.

Each row is claimed before it is sent (crawler/archive/outbox.py), so any number of senders on one
archive send it once; each send is recorded right after it returns, so a crash in between can only
repeat that one message, with the same delivery id.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sqlite3
import uuid
from collections import Counter
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
from alerts.notices import Notice, notice_email, notice_payload, raise_notice
from alerts.outbox import Policy, apprise_of, policy_from, settle
from alerts.render import Alert, digest_message, email_message, plain_text, subject, webhook_payload
from crawler.archive import outbox
from crawler.archive.articles import Archive
from crawler.archive.outbox import Queued, Settlement
from crawler.archive.state import read_status
from crawler.config import Config
from crawler.config.watchers import Watcher
from crawler.exceptions import StorageError

CAP_WAIT = timedelta(minutes=10)  # a watcher over its cap per hour is tried again this much later


@dataclass(frozen=True)
class NoticesSent:
    """What a pass over the due admin notices alone did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


@dataclass
class Dispatched:
    """What one dispatch pass did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    postponed: int = 0
    notices: int = 0
    held: int = 0  # sent, but their outcome could not be written yet: kept in memory
    notice_outcomes: Counter[str] = field(default_factory=Counter)  # sent, failed, dead
    errors: list[str] = field(default_factory=list)
    dead_ids: list[str] = field(default_factory=list)
    left_to_daemon: bool = False  # a command found the daemon running and sent nothing


def sender_name() -> str:
    """This process's name as a claim owner: host, pid and a token (a pid can be reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_owners(owners: set[str | None]) -> set[str]:
    """The claim owners on this host whose process is gone: their claims need not wait for the
    lease (a sender killed mid-send on this machine is taken over at once)."""
    host, dead = socket.gethostname(), set()
    for owner in owners - {None}:
        name, _, rest = (owner or "").rpartition(":")[0].rpartition(":")
        if name != host or not rest.isdigit():
            continue
        try:
            os.kill(int(rest), 0)
        except ProcessLookupError:
            dead.add(owner or "")
        except PermissionError:  # alive, someone else's
            continue
    return dead


class Dispatcher:
    """Sends what is due, alerts then admin notices, claiming each row before sending it.

    An outcome the archive cannot take (a full disk) is held in memory and written before anything
    else is sent: what was sent is never sent again because its record was lost, while this
    process lives. A long-lived sender (the daemon) keeps one Dispatcher."""

    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner or sender_name()
        self.held: list[Settlement] = []

    def run(
        self,
        conn: sqlite3.Connection,
        watchers: dict[str, Watcher],
        policy: Policy,
        now: datetime,
        jitter: Callable[[], float] = random.random,
        stopping: Callable[[], bool] = lambda: False,
    ) -> Dispatched:
        """Send every delivery and notice due at `now`; record each attempt; schedule retries or
        give up. `stopping()` ends the pass between two sends (the rest stays due)."""
        result = Dispatched()
        if not self.write_held(conn, result):
            return result
        pass_ = _Pass(self, conn, watchers, policy, now, jitter, stopping, result)
        with contextlib.suppress(StorageError):  # told in result.errors; held outcomes go first next time
            try:
                pass_.alerts()
            finally:  # whatever ended the pass, the deliveries it gave up on are told to the admin
                if result.dead_ids:
                    pass_.notice_dead()
            if not stopping():
                pass_.notices()
        return result

    def write_held(self, conn: sqlite3.Connection, result: Dispatched) -> bool:
        """Write the outcomes held back by an earlier failure; False while the archive still refuses."""
        if not self.held:
            return True
        try:
            outbox.settle(conn, self.held)
        except sqlite3.Error as exc:
            result.held = len(self.held)
            result.errors.append(_unwritable(exc, len(self.held)))
            return False
        self.held = []
        return True


def _unwritable(exc: Exception, held: int) -> str:
    return (
        f"the archive cannot be written ({exc}): {held} sent message(s) not yet recorded, kept in "
        "memory; nothing more is sent until they are (hint: check free disk space and the database "
        "file's permissions)"
    )


@dataclass
class _Pass:
    dispatcher: Dispatcher
    conn: sqlite3.Connection
    watchers: dict[str, Watcher]
    policy: Policy
    now: datetime
    jitter: Callable[[], float]
    stopping: Callable[[], bool]
    result: Dispatched

    def alerts(self) -> None:
        rows = outbox.due(self.conn, "deliveries", self.now)
        dead = dead_owners({r.claimed_by for r in rows})
        digests: dict[str, list[Queued]] = {}
        instant = []
        for row in rows:
            watcher = self.watchers.get(row.watcher)
            if (
                watcher is not None
                and watcher.enabled
                and watcher.mode != "instant"
                and row.channel == "email"
            ):
                digests.setdefault(watcher.name, []).append(row)
            else:
                instant.append(row)
        for name, members in digests.items():
            if self.stopping():
                return
            claimed = self.claim("deliveries", [r.id for r in members], dead)
            if claimed:
                self.send_digest(self.watchers[name], claimed)
        for row in instant:
            if self.stopping():
                return
            for claimed in self.claim("deliveries", [row.id], dead):
                self.send_alert(claimed)

    def notices(self) -> None:
        rows = outbox.due(self.conn, "notices", self.now)
        dead = dead_owners({r.claimed_by for r in rows})
        for row in rows:
            if self.stopping():
                return
            for claimed in self.claim("notices", [row.id], dead):
                watcher = self.watchers.get(claimed.watcher)
                if watcher is None or not watcher.enabled or not watcher.admin:
                    self.write(outbox.finish, "notices", claimed.id, "suppressed", None)
                    continue
                notice = Notice(claimed.key, claimed.kind, claimed.subject, claimed.body)
                outcome = guarded(
                    f"notice {claimed.channel} of {watcher.name}",
                    _send_notice,
                    watcher,
                    claimed.channel,
                    notice,
                    claimed.id,
                    self.policy,
                )
                if self.settle([claimed], outcome) == "sent":
                    self.result.notices += 1

    def claim(self, table: str, ids: list[str], dead: set[str]) -> list[Queued]:
        until = self.now + timedelta(seconds=self.policy.lease_seconds)
        return self.write(outbox.claim, table, ids, self.dispatcher.owner, self.now, until, dead)

    def send_alert(self, row: Queued) -> None:
        watcher = self.watchers.get(row.watcher)
        if watcher is None or not watcher.enabled:
            self.write(
                outbox.finish, "deliveries", row.id, "suppressed", "the watcher was removed or disabled"
            )
            return
        if watcher.max_per_hour and (
            outbox.sent_since(self.conn, watcher.name, self.now - timedelta(hours=1)) >= watcher.max_per_hour
        ):
            self.write(outbox.postpone, row.id, self.now + CAP_WAIT)
            self.result.postponed += 1
            return
        alert = load_alert(self.conn, row.id, watcher.name, row.article_id or 0, list(row.topics))
        self.settle([row], send(watcher, row.channel, alert, self.policy))

    def send_digest(self, watcher: Watcher, rows: list[Queued]) -> None:
        alerts = [load_alert(self.conn, r.id, watcher.name, r.article_id or 0, list(r.topics)) for r in rows]
        message = digest_message(alerts, watcher.name, self.policy.smtp.sender, list(watcher.email))
        outcome = guarded(f"digest of {watcher.name}", send_email, self.policy.smtp, message)
        self.settle(rows, outcome)

    def settle(self, rows: list[Queued], outcome: Outcome) -> str:
        """Write the outcome of one send for its rows; return the status they took."""
        settlements, status = [], "sent"
        for row in rows:
            attempts = row.attempts + 1
            status, due = settle(
                outcome.ok,
                attempts,
                self.policy.max_attempts,
                self.policy.retry_seconds,
                self.now,
                self.jitter,
            )
            # a dead one is not retried any more, whatever the error said
            error = not_retried(outcome.error or "") if status == "dead" else outcome.error
            if row.table == "deliveries":
                setattr(self.result, status, getattr(self.result, status) + 1)
                if status == "dead":
                    self.result.dead_ids.append(row.id)
                    self.result.errors.append(f"delivery {row.id} is dead after {attempts} attempts: {error}")
                elif status == "failed":
                    self.result.errors.append(f"delivery {row.id}: {error}")
            else:
                self.result.notice_outcomes[status] += 1
            settlements.append(
                Settlement(
                    row.table,
                    row.id,
                    self.dispatcher.owner,
                    row.channel,
                    outcome.ok,
                    status,
                    attempts,
                    error,
                    self.now,
                    due,
                )
            )
        try:
            outbox.settle(self.conn, settlements)
        except sqlite3.Error as exc:  # sent, but not recorded: never sent again while we hold it
            self.dispatcher.held.extend(settlements)
            self.result.held = len(self.dispatcher.held)
            self.result.errors.append(_unwritable(exc, len(self.dispatcher.held)))
            raise StorageError(self.result.errors[-1]) from exc
        return status

    def write(self, func: Callable[..., object], *args: object) -> list[Queued]:
        """A claim or a bookkeeping write; the archive refusing it stops the pass before any send."""
        try:
            return func(self.conn, *args) or []  # type: ignore[return-value]
        except sqlite3.Error as exc:
            self.result.errors.append(
                f"the archive cannot be written ({exc}); nothing is sent until it can "
                "(hint: check free disk space and the database file's permissions)"
            )
            raise StorageError(self.result.errors[-1]) from exc

    def notice_dead(self) -> None:
        dead = [e for e in self.result.errors if " is dead after " in e]
        text = (
            "Veille gave up on these deliveries; `veille alerts retry --dead` sends them again once the "
            "channel works.\n\n" + "\n".join(dead)
        )
        key = "dead:" + ",".join(sorted(self.result.dead_ids))
        title = f"{len(self.result.dead_ids)} alert(s) could not be delivered"
        try:
            raise_notice(self.conn, Notice(key, "dead-deliveries", title, text), self.watchers, self.now)
        except sqlite3.Error as exc:
            self.result.errors.append(f"the dead deliveries could not be told to the admin: {exc}")


def dispatch_once(archive: Archive, config: Config, now: datetime) -> Dispatched:
    """One pass as a command runs it (`veille crawl`, `veille alerts send`), so a cron job gets its
    alerts without the daemon; nothing when a daemon runs (it sends them itself)."""
    if read_status(archive.db.conn).running(now):
        return Dispatched(left_to_daemon=True)
    policy = policy_from(config.settings, dict(os.environ))
    dispatcher = Dispatcher()
    done = dispatcher.run(archive.db.conn, config.watchers_by_name(), policy, now)
    if dispatcher.held and not dispatcher.write_held(archive.db.conn, done):
        done.errors.append(
            f"{len(dispatcher.held)} sent message(s) could not be recorded before this command ended; "
            f"they may be sent again after lease_seconds ({policy.lease_seconds} s)"
        )
    return done


def dispatch_due(
    conn: sqlite3.Connection,
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float] = random.random,
    stopping: Callable[[], bool] = lambda: False,
) -> Dispatched:
    """One pass of a new Dispatcher (see Dispatcher.run)."""
    return Dispatcher().run(conn, watchers, policy, now, jitter, stopping)


def send_notices(
    conn: sqlite3.Connection,
    watchers: dict[str, Watcher],
    policy: Policy,
    now: datetime,
    jitter: Callable[[], float] = random.random,
) -> NoticesSent:
    """Send only the admin notices that are due."""
    result = Dispatched()
    pass_ = _Pass(Dispatcher(), conn, watchers, policy, now, jitter, lambda: False, result)
    with contextlib.suppress(StorageError):  # told in result.errors
        pass_.notices()
    counts = result.notice_outcomes
    return NoticesSent(counts["sent"], counts["failed"], counts["dead"])


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


def _send_notice(watcher: Watcher, channel: str, notice: Notice, row_id: str, policy: Policy) -> Outcome:
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


def load_alert(
    conn: sqlite3.Connection, delivery_id: str, watcher: str, article_id: int, topics: list[str]
) -> Alert:
    """The alert's content from the archive: the article, its matches, the story's other sites."""
    article, matches, others = outbox.alert_content(conn, article_id, topics)
    return Alert(delivery_id, watcher, tuple(topics), article, matches, others)


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
