"""Dispatching alerts to a real SMTP server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from alerts.channels import SmtpSettings, send_email
from alerts.dispatch import dispatch_due
from alerts.matcher import Matcher
from alerts.outbox import Policy, matching
from alerts.render import verify
from crawler.archive.articles import Archive
from crawler.config.topics import Topic, make_term
from crawler.config.watchers import Secret, Watcher, Webhook
from crawler.extract.dates import format_utc
from crawler.items import ArticleItem
from crawler.pipelines import build_record
from tests.servers import SmtpServer, TlsSmtpServer, WebhookReceiver

REAL = json.loads(
    (Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json").read_text("utf-8")
)
BODY = next(a["content"] for a in REAL if "الذكاء الاصطناعي" in a["content"] and len(a["content"]) > 2000)
MATCHER = Matcher([Topic(name="ia", title="ia", any=(make_term("الذكاء الاصطناعي", frozenset()),))])


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def hook() -> WebhookReceiver:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


def setup(
    tmp_path: Path, smtp: SmtpServer, hook: WebhookReceiver | None, **kw: object
) -> tuple[Archive, dict[str, Watcher], Policy, datetime]:
    """An archived article owing one watcher its alert; `now` is when it is due."""
    webhook = Webhook(Secret(hook.url, hook.url), Secret("${S}", "s3cret")) if hook else None
    watcher = Watcher(name="w", title="w", topics=("ia",), email=("a@example.ma",), webhook=webhook, **kw)
    archive = Archive.open(tmp_path / "a.db")
    item = ArticleItem(
        source="s", url="https://a.ma/x-11111", title="<b>الذكاء</b> titre", body=BODY, language="ar"
    )
    archive.store_many([build_record(item)], matching(MATCHER, (watcher,)))
    policy = Policy(
        SmtpSettings("127.0.0.1", smtp.port, tls="none", timeout=2),
        max_attempts=3,
        retry_seconds=60,
        timeout=1,
    )
    return archive, {"w": watcher}, policy, datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)


def statuses(archive: Archive) -> dict[str, str]:
    return dict(archive.db.execute("SELECT channel, status FROM deliveries").fetchall())


def test_an_alert_reaches_the_smtp_server_and_the_webhook_once(
    tmp_path: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    smtp.start()
    archive, watchers, policy, now = setup(tmp_path, smtp, hook)
    done = dispatch_due(archive.db.conn, watchers, policy, now)
    assert (done.sent, done.failed) == (2, 0)
    [mail] = smtp.mailbox.messages
    assert mail["Subject"] == "[Veille] ia: <b>الذكاء</b> titre"
    assert "&lt;b&gt;" in mail.get_body(("html",)).get_content()
    [(headers, body)] = hook.requests
    assert verify(body, "s3cret", headers["X-Veille-Signature"])
    assert headers["X-Veille-Delivery"] == json.loads(body)["delivery_id"]
    assert statuses(archive) == {"email": "sent", "webhook": "sent"}
    again = dispatch_due(archive.db.conn, watchers, policy, now + timedelta(hours=1))
    assert again.sent == 0 and len(smtp.mailbox.messages) == 1 and len(hook.requests) == 1
    assert archive.db.execute("SELECT COUNT(*) FROM delivery_attempts").fetchone()[0] == 2


def test_an_smtp_server_down_for_a_while_still_gets_the_alert_once(tmp_path: Path, smtp: SmtpServer) -> None:
    archive, watchers, policy, now = setup(tmp_path, smtp, None)
    first = dispatch_due(archive.db.conn, watchers, policy, now)  # nothing listens yet
    assert first.failed == 1 and "SMTP 127.0.0.1" in first.errors[0] and "it is retried" in first.errors[0]
    assert dispatch_due(archive.db.conn, watchers, policy, now + timedelta(seconds=30)).sent == 0  # not due
    smtp.start()
    later = dispatch_due(archive.db.conn, watchers, policy, now + timedelta(minutes=5))
    assert later.sent == 1 and len(smtp.mailbox.messages) == 1
    outcomes = [r[0] for r in archive.db.execute("SELECT outcome FROM delivery_attempts ORDER BY id")]
    assert outcomes == ["failed", "sent"]


def test_a_webhook_answering_500_then_200_gets_it_once(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.start()
    hook = WebhookReceiver(statuses=[500])
    try:
        archive, watchers, policy, now = setup(tmp_path, smtp, hook)
        first = dispatch_due(archive.db.conn, watchers, policy, now)
        assert any("HTTP 500" in e for e in first.errors)
        dispatch_due(archive.db.conn, watchers, policy, now + timedelta(minutes=5))
        assert statuses(archive)["webhook"] == "sent"
        ids = {h["X-Veille-Delivery"] for h, _ in hook.requests}
        assert len(hook.requests) == 2 and len(ids) == 1  # the retry carries the same delivery id
    finally:
        hook.stop()


def test_a_hanging_receiver_times_out_and_a_delivery_dies_after_its_attempts(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    smtp.start()
    hook = WebhookReceiver(delay=2)
    try:
        archive, watchers, policy, now = setup(tmp_path, smtp, hook)
        moment = now
        for _ in range(3):
            done = dispatch_due(archive.db.conn, watchers, policy, moment)
            moment += timedelta(hours=2)
        assert (
            "timed out"
            in archive.db.execute("SELECT last_error FROM deliveries WHERE channel = 'webhook'").fetchone()[0]
        )
        assert statuses(archive)["webhook"] == "dead" and done.dead == 1
        [given_up] = [e for e in done.errors if " is dead after 3 attempts: " in e]
        assert "timed out" in given_up and "it is retried" not in given_up  # it is not, any more
        stored = archive.db.execute("SELECT last_error FROM deliveries WHERE channel = 'webhook'").fetchone()[
            0
        ]
        assert "timed out" in stored and "it is retried" not in stored  # as `veille alerts` shows it
    finally:
        hook.stop()


def test_the_cap_per_hour_postpones_the_rest(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.start()
    archive, watchers, policy, now = setup(tmp_path, smtp, None, max_per_hour=1)
    half_an_hour_ago = format_utc(now - timedelta(minutes=30))
    archive.db.execute(
        "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, topics, "
        "status, due_at, created_at, sent_at) VALUES ('old', 'w', 'story:99', 'email', 1, '[1]', "
        "'[\"ia\"]', 'sent', ?, ?, ?)",
        [half_an_hour_ago] * 3,
    )
    done = dispatch_due(archive.db.conn, watchers, policy, now)
    assert (done.sent, done.postponed) == (0, 1) and smtp.mailbox.messages == []


def test_a_digest_watcher_gets_one_message_grouped_by_topic(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.start()
    archive, watchers, policy, now = setup(tmp_path, smtp, None, mode="hourly")
    item = ArticleItem(
        source="s2",
        url="https://b.ma/z-33333",
        title="second",
        language="ar",
        body="الذكاء الاصطناعي " + " ".join(a["content"] for a in REAL[:2]),
    )
    archive.store_many([build_record(item)], matching(MATCHER, tuple(watchers.values())))
    assert dispatch_due(archive.db.conn, watchers, policy, now).sent == 0  # due at the top of the hour
    done = dispatch_due(archive.db.conn, watchers, policy, now + timedelta(hours=1, minutes=1))
    assert done.sent == 2
    [mail] = smtp.mailbox.messages
    assert mail["Subject"] == "[Veille] w: 2 articles (ia)"
    assert mail.get_body(("plain",)).get_content().startswith("== ia ==")


def test_the_admin_is_told_when_a_delivery_dies(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.start()
    hook = WebhookReceiver(statuses=[500, 500, 500])
    try:
        archive, watchers, policy, now = setup(tmp_path, smtp, hook)
        watchers["admin"] = Watcher(
            name="admin", title="admin", topics=("ia",), email=("admin@example.ma",), admin=True
        )
        for hours in (0, 2, 4):
            dispatch_due(archive.db.conn, watchers, policy, now + timedelta(hours=hours))
        notices = [m for m in smtp.mailbox.messages if "could not be delivered" in m["Subject"]]
        assert len(notices) == 1 and "HTTP 500" in notices[0].get_content()
    finally:
        hook.stop()


def test_errors_never_show_a_secret_carried_by_the_webhook_url(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.start()
    hook = WebhookReceiver(statuses=[500])
    try:
        archive, watchers, policy, now = setup(tmp_path, smtp, None)
        url = Secret("http://127.0.0.1:1/hook?token=${TOKEN}", f"{hook.url}?token=t0ps3cret")
        watchers["w"] = Watcher(
            name="w",
            title="w",
            topics=("ia",),
            email=("a@example.ma",),
            webhook=Webhook(url, Secret("${S}", "s")),
        )
        archive.db.execute(
            "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, "
            "topics, status, due_at, created_at) VALUES ('h', 'w', 'story:1', 'webhook', 1, "
            "'[1]', '[\"ia\"]', 'pending', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')"
        )
        done = dispatch_due(archive.db.conn, watchers, policy, now)
        assert any("HTTP 500" in e for e in done.errors)
        assert "t0ps3cret" not in " ".join(done.errors) and "${TOKEN}=***" in " ".join(done.errors)
    finally:
        hook.stop()


def test_an_apprise_url_reaches_its_service(tmp_path: Path, smtp: SmtpServer, hook: WebhookReceiver) -> None:
    smtp.start()
    archive, _watchers, policy, now = setup(tmp_path, smtp, None)
    target = hook.url.replace("http://", "json://")
    watcher = Watcher(
        name="w", title="w", topics=("ia",), email=("a@example.ma",), apprise=(Secret(target, target),)
    )
    archive.db.execute(
        "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, "
        "topics, status, due_at, created_at) VALUES ('ap', 'w', 'story:1', 'apprise:0', 1, "
        "'[1]', '[\"ia\"]', 'pending', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')"
    )
    done = dispatch_due(archive.db.conn, {"w": watcher}, policy, now)
    assert done.sent == 2 and done.errors == []
    [(_, body)] = hook.requests
    assert json.loads(body)["title"].startswith("[Veille] ia: ")


@contextmanager
def tls_server(tmp_path: Path, implicit: bool = False) -> Iterator[tuple[TlsSmtpServer, str, EmailMessage]]:
    """A TLS aiosmtpd server with its own CA (STARTTLS, or TLS from the first byte), that CA's
    certificate file, and a sample alert to send through it."""
    from alerts.dispatch import sample_alert
    from alerts.render import email_message
    from tests.servers import ImplicitTlsSmtpServer, make_certificate

    cert, key = make_certificate(tmp_path)
    server = (ImplicitTlsSmtpServer if implicit else TlsSmtpServer)(cert, key).start()
    try:
        watcher = Watcher(name="w", title="w", topics=("ia",), email=("a@example.ma",))
        yield server, cert, email_message(sample_alert(watcher), "v@example.ma", ["a@example.ma"])
    finally:
        server.stop()


def test_starttls_with_a_login_and_a_private_ca(tmp_path: Path) -> None:
    with tls_server(tmp_path) as (server, cert, message):
        good = SmtpSettings("127.0.0.1", server.port, "starttls", "veille", "s3cret", timeout=5, ca_file=cert)
        assert send_email(good, message).ok and server.logins == ["veille"]
        unknown_ca = SmtpSettings("127.0.0.1", server.port, "starttls", "veille", "s3cret", timeout=5)
        refused = send_email(unknown_ca, message)
        assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in refused.error
        assert len(server.mailbox.messages) == 1


def test_a_wrong_smtp_password_is_named_as_such_and_nothing_is_sent(tmp_path: Path) -> None:
    with tls_server(tmp_path) as (server, cert, message):
        wrong = SmtpSettings("127.0.0.1", server.port, "starttls", "veille", "guess", timeout=5, ca_file=cert)
        outcome = send_email(wrong, message)
        assert not outcome.ok and server.mailbox.messages == []
        assert outcome.error == (
            f"SMTP 127.0.0.1:{server.port}: login as veille refused: "
            "5.7.8 Authentication credentials invalid "
            "(hint: check smtp_user and the variable smtp_password names; it is retried)"
        )


# aiosmtpd warns of AUTH without STARTTLS: it cannot see that this server is TLS from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_sends_with_a_login(tmp_path: Path) -> None:
    with tls_server(tmp_path, implicit=True) as (server, cert, message):
        smtps = SmtpSettings("127.0.0.1", server.port, "ssl", "veille", "s3cret", timeout=5, ca_file=cert)
        assert send_email(smtps, message).ok and server.logins == ["veille"]
        assert len(server.mailbox.messages) == 1
        # STARTTLS against a server that speaks TLS from the first byte: a clear failure, not a hang.
        starttls = SmtpSettings(
            "127.0.0.1", server.port, "starttls", "veille", "s3cret", timeout=2, ca_file=cert
        )
        outcome = send_email(starttls, message)
        assert not outcome.ok and outcome.error.startswith(f"SMTP 127.0.0.1:{server.port}: ")
        assert outcome.error.endswith("(hint: check smtp_host, smtp_port and smtp_tls; it is retried)")


def test_a_receiver_that_answers_garbage_fails_alone_and_the_rest_is_sent(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    import socket
    import threading

    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen()

    def answer() -> None:  # not HTTP at all: http.client raises BadStatusLine, not an OSError
        conn, _ = garbage.accept()
        conn.recv(65536)
        conn.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    smtp.start()
    try:
        archive, watchers, policy, now = setup(tmp_path, smtp, None)
        url = f"http://127.0.0.1:{garbage.getsockname()[1]}/hook"
        watchers["w"] = Watcher(
            name="w",
            title="w",
            topics=("ia",),
            email=("a@example.ma",),
            webhook=Webhook(Secret(url, url), Secret("${S}", "s")),
        )
        archive.db.execute(
            "INSERT INTO deliveries (id, watcher, story_key, channel, article_id, articles, "
            "topics, status, due_at, created_at) VALUES ('0-first', 'w', 'story:1', 'webhook', 1, "
            "'[1]', '[\"ia\"]', 'pending', '2000-01-01T00:00:00Z', '2000-01-01T00:00:00Z')"
        )
        done = dispatch_due(archive.db.conn, watchers, policy, now)
        assert (done.sent, done.failed) == (1, 1) and len(smtp.mailbox.messages) == 1
        assert statuses(archive)["webhook"] == "failed"
    finally:
        garbage.close()
