"""Admin notices: queued once per key, sent to every admin channel, retried while SMTP is down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.channels import SmtpSettings
from alerts.dispatch import send_notices
from alerts.notices import Notice, raise_notice
from alerts.outbox import Policy
from crawler.archive.articles import Archive
from crawler.config.watchers import Watcher
from tests.servers import SmtpServer

NOW = datetime.now(UTC).replace(microsecond=0)
ADMIN = Watcher(name="admin", title="admin", topics=("ia",), email=("admin@example.ma",), admin=True)
USER = Watcher(name="user", title="user", topics=("ia",), email=("user@example.ma",))
NOTICE = Notice(
    "source:site:failing:2026-11-25T10:00:00Z", "source-failing", "source site is down", "details"
)


def test_a_notice_is_queued_once_and_only_for_admins(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    watchers = {"admin": ADMIN, "user": USER}
    assert raise_notice(archive.db.conn, NOTICE, watchers, NOW) == 1
    assert raise_notice(archive.db.conn, NOTICE, watchers, NOW) == 0  # a re-check, a restart: nothing new
    rows = archive.db.execute("SELECT watcher, channel, status FROM notices").fetchall()
    assert rows == [("admin", "email", "pending")]


def test_without_an_admin_the_notice_is_kept_for_status(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    raise_notice(archive.db.conn, NOTICE, {"user": USER}, NOW)
    assert archive.db.execute("SELECT status FROM notices").fetchall() == [("no-admin",)]


def test_a_notice_waits_for_the_smtp_server_and_is_sent_once(tmp_path: Path) -> None:
    smtp = SmtpServer()
    try:
        archive = Archive.open(tmp_path / "a.db")
        policy = Policy(
            SmtpSettings("127.0.0.1", smtp.port, tls="none", timeout=2),
            max_attempts=5,
            retry_seconds=60,
            timeout=1,
        )
        raise_notice(archive.db.conn, NOTICE, {"admin": ADMIN}, NOW)
        down = send_notices(archive.db.conn, {"admin": ADMIN}, policy, NOW)  # nothing listens yet
        assert (down.sent, down.failed) == (0, 1)
        smtp.start()
        assert send_notices(archive.db.conn, {"admin": ADMIN}, policy, NOW).sent == 0  # not due again yet
        later = send_notices(archive.db.conn, {"admin": ADMIN}, policy, NOW + timedelta(minutes=2))
        assert later.sent == 1
        send_notices(archive.db.conn, {"admin": ADMIN}, policy, NOW + timedelta(hours=2))
        [mail] = smtp.mailbox.messages
        assert mail["Subject"] == "[Veille] source site is down" and mail["To"] == "admin@example.ma"
    finally:
        smtp.stop()
