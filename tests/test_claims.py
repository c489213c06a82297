"""A delivery is claimed before it is sent: several senders on one archive send each alert once, a
dead sender's claims are taken over, and a send whose record cannot be written is never repeated."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import SmtpSettings
from alerts.dispatch import Dispatcher, dispatch_due
from alerts.matcher import Matcher
from alerts.outbox import Policy, matching
from crawler.archive import outbox
from crawler.archive.articles import Archive
from crawler.config import load_config
from crawler.config.topics import Topic, make_term
from crawler.config.watchers import Secret, Watcher, Webhook
from crawler.items import ArticleItem
from crawler.pipelines import build_record
from tests.servers import WebhookReceiver

MATCHER = Matcher([Topic(name="t", title="t", any=(make_term("Jazari", frozenset()),))])


@pytest.fixture
def hook() -> WebhookReceiver:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


def watcher_for(hook: WebhookReceiver) -> Watcher:
    return Watcher(
        name="w", title="w", topics=("t",), webhook=Webhook(Secret(hook.url, hook.url), Secret("${S}", "k"))
    )


def archive_owing(path: Path, watcher: Watcher, count: int) -> Archive:
    """An archive with `count` unrelated articles, each owing `watcher` one webhook delivery."""
    archive = Archive.open(path)
    for n in range(count):
        body = f"Article {n} sur l'institut Jazari, sujet {n * 7919} sans rapport avec les autres {n * 31}."
        item = ArticleItem(source="s", url=f"https://x.ma/a-{n}", title=f"Jazari {n}", body=body)
        archive.store_many([build_record(item)], matching(MATCHER, (watcher,)))
    return archive


def policy(**kw: float) -> Policy:
    return Policy(SmtpSettings("127.0.0.1", 1, tls="none", timeout=1), timeout=2, **kw)


def received(hook: WebhookReceiver) -> Counter[str]:
    return Counter(headers["X-Veille-Delivery"] for headers, _ in hook.requests)


NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's clock starts just after its own start: deliveries are owed at the wall clock, so a
    clock read once at import would lie in the past of tests run minutes later in a full suite."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)


def test_two_senders_at_once_send_each_alert_once(tmp_path: Path, hook: WebhookReceiver) -> None:
    watcher = watcher_for(hook)
    archive_owing(tmp_path / "a.db", watcher, 12).close()
    hook.delay = 0.02  # long enough for the two passes to overlap
    done = []

    def send() -> None:
        archive = Archive.open(tmp_path / "a.db")
        done.append(dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW))
        archive.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = received(hook)
    assert len(counts) == 12 and set(counts.values()) == {1}
    assert sum(d.sent for d in done) == 12
    assert all(d.sent for d in done), "both senders took part"


@pytest.mark.slow
def test_three_alerts_send_commands_at_once_send_each_alert_once(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/f]\n"
    )
    (tmp_path / "keywords.yaml").write_text("topics:\n  - name: t\n    any: [Jazari]\n")
    (tmp_path / "watchers.yaml").write_text(
        f"watchers:\n  - name: w\n    topics: [t]\n    webhook: {{url: '{hook.url}', secret: '${{S}}'}}\n"
    )
    env = dict(os.environ, S="k", VEILLE_DB=str(tmp_path / "a.db"))
    os.environ["S"] = "k"
    try:
        config = load_config(tmp_path)
    finally:
        del os.environ["S"]
    archive_owing(tmp_path / "a.db", config.watchers[0], 30).close()
    hook.delay = 0.03
    command = [sys.executable, "-m", "crawler.cli", "--config", str(tmp_path), "alerts", "send"]
    senders = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)
    ]
    for sender in senders:
        _, err = sender.communicate(timeout=120)
        assert sender.returncode == 0, err.decode()
    counts = received(hook)
    assert len(counts) == 30 and set(counts.values()) == {1}, counts.most_common(3)
    archive = Archive.open(tmp_path / "a.db")
    assert archive.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]
    archive.close()


def claim_all(archive: Archive, owner: str, until: datetime) -> list[str]:
    ids = [r[0] for r in archive.db.execute("SELECT id FROM deliveries ORDER BY id")]
    return [q.id for q in outbox.claim(archive.db.conn, "deliveries", ids, owner, NOW, until)]


def test_a_claim_held_elsewhere_waits_for_its_lease(tmp_path: Path, hook: WebhookReceiver) -> None:
    watcher = watcher_for(hook)
    archive = archive_owing(tmp_path / "a.db", watcher, 2)
    assert len(claim_all(archive, "other-node:4242:abcd", NOW + timedelta(seconds=300))) == 2
    held = dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW + timedelta(seconds=60))
    assert held.sent == 0 and not hook.requests  # another node owns them and may be sending
    later = dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW + timedelta(seconds=301))
    assert later.sent == 2 and len(received(hook)) == 2
    rows = archive.db.execute("SELECT DISTINCT status, claimed_by FROM deliveries").fetchall()
    assert rows == [("sent", None)]


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(
    tmp_path: Path, hook: WebhookReceiver
) -> None:
    watcher = watcher_for(hook)
    archive = archive_owing(tmp_path / "a.db", watcher, 1)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    claim_all(archive, f"{socket.gethostname()}:{gone.stdout.strip()}:dead", NOW + timedelta(seconds=300))
    done = dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW)
    assert done.sent == 1 and len(received(hook)) == 1


def test_only_the_owner_records_an_outcome(tmp_path: Path, hook: WebhookReceiver) -> None:
    watcher = watcher_for(hook)
    archive = archive_owing(tmp_path / "a.db", watcher, 1)
    [row_id] = claim_all(archive, "node-a:1:x", NOW + timedelta(seconds=10))
    # Node a's lease ended; node b took the delivery over and sent it.
    assert claim_all(archive, "node-b:2:y", NOW + timedelta(seconds=400)) == []  # not yet expired
    later = NOW + timedelta(seconds=11)
    [taken] = outbox.claim(
        archive.db.conn, "deliveries", [row_id], "node-b:2:y", later, later + timedelta(seconds=300)
    )
    assert taken.claimed_by == "node-b:2:y"
    late = outbox.Settlement(
        "deliveries", row_id, "node-a:1:x", "webhook", False, "failed", 1, "timeout", later, later
    )
    outbox.settle(archive.db.conn, [late])
    assert archive.db.execute("SELECT status, claimed_by FROM deliveries").fetchone() == (
        "sending",
        "node-b:2:y",
    )
    assert (
        archive.db.execute("SELECT COUNT(*) FROM delivery_attempts").fetchone()[0] == 1
    )  # still in the ledger


def test_a_sent_alert_whose_record_fails_is_held_and_never_sent_again(
    tmp_path: Path, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = watcher_for(hook)
    archive = archive_owing(tmp_path / "a.db", watcher, 3)
    real, failures = outbox.settle, [2]

    def full_disk(conn: sqlite3.Connection, settlements: object) -> None:
        if failures[0]:
            failures[0] -= 1
            raise sqlite3.OperationalError("database or disk is full")
        real(conn, settlements)

    monkeypatch.setattr(outbox, "settle", full_disk)
    dispatcher = Dispatcher()
    first = dispatcher.run(archive.db.conn, {"w": watcher}, policy(), NOW)
    assert len(hook.requests) == 1 and first.held == 1  # sent once, then the pass stopped
    assert "cannot be written" in first.errors[-1] and "free disk space" in first.errors[-1]
    second = dispatcher.run(archive.db.conn, {"w": watcher}, policy(), NOW + timedelta(minutes=10))
    assert len(hook.requests) == 1 and second.held == 1  # still refused: nothing more is sent
    third = dispatcher.run(archive.db.conn, {"w": watcher}, policy(), NOW + timedelta(minutes=20))
    counts = received(hook)
    assert len(counts) == 3 and set(counts.values()) == {1}  # the held one was recorded, not resent
    assert third.sent == 2 and not dispatcher.held
    assert archive.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]


def test_a_claim_the_archive_refuses_sends_nothing(
    tmp_path: Path, hook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = watcher_for(hook)
    archive = archive_owing(tmp_path / "a.db", watcher, 2)

    def full_disk(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(outbox, "claim", full_disk)
    done = dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW)
    assert done.sent == 0 and not hook.requests
    assert "nothing is sent until it can" in done.errors[0]
    monkeypatch.undo()
    assert dispatch_due(archive.db.conn, {"w": watcher}, policy(), NOW).sent == 2
