"""Text a hostile feed can send: encoded words that would inject headers, controls, lone surrogates
and bidi overrides. Nothing of it reaches an email's headers, an alert's text or the archive."""

from __future__ import annotations

import email
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from alerts.channels import SmtpSettings, send_email
from alerts.dispatch import dispatch_due
from alerts.matcher import Matcher
from alerts.outbox import Policy, matching
from alerts.render import (
    Alert,
    digest_message,
    email_message,
    new_message,
    plain_text,
    subject,
    webhook_payload,
)
from crawler.archive.articles import Archive
from crawler.config.topics import Topic, make_term
from crawler.config.watchers import Watcher
from crawler.extract.article import SiteRules, extract_article
from crawler.extract.cleaning import safe_line, safe_text
from crawler.items import ArticleItem
from crawler.pipelines import build_record
from tests.servers import SmtpServer

INJECTION = "=?utf-8?q?=0D=0AReply-To:_attacker@evil.ma=0D=0AX-Evil:_1=0D=0A=0D=0APHISHING?="
BIDI = "facture \u202efdp.exe"  # shows as "facture exe.pdf"
DIRTY = "Le Maroc\x00 et l’IA\x1b[31m \ud800 " + BIDI
BODY = "Le Maroc investit dans l’intelligence artificielle pour ses écoles et ses hôpitaux. " * 3
MATCHER = Matcher([Topic(name="ia", title="ia", any=(make_term("intelligence artificielle", frozenset()),))])


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer().start()
    yield server
    server.stop()


def alert(title: str, **article: object) -> Alert:
    return Alert(
        "5f0c3f5e-1111-5222-8333-444455556666",
        "w",
        ("ia",),
        {"id": 1, "url": "https://a.ma/x-1", "title": title, "source": "s", "body": BODY, **article},
    )


def header_names(raw: bytes) -> list[bytes]:
    """The names of the headers of a message as received (CRLF on the wire): the first word of
    every line of the header block that is no continuation line."""
    block = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0] for line in block.split(b"\n") if line[:1] not in (b" ", b"\t")]


def test_an_encoded_word_in_a_title_injects_no_header_through_a_real_smtp_server(smtp: SmtpServer) -> None:
    settings = SmtpSettings("127.0.0.1", smtp.port, tls="none", timeout=5)
    for title in (INJECTION, f"Maroc : {INJECTION} l’IA", f"IA {INJECTION}"):
        assert send_email(settings, email_message(alert(title), "v@example.ma", ["a@example.ma"])).ok
    assert len(smtp.mailbox.raw) == 3
    for raw, received in zip(smtp.mailbox.raw, smtp.mailbox.messages, strict=True):
        assert header_names(raw) == [
            b"Subject",
            b"From",
            b"To",
            b"Message-ID",
            b"X-Veille-Delivery",
            b"MIME-Version",
            b"Content-Type",
        ], raw
        assert received["Reply-To"] is None and received["X-Evil"] is None
        # The reader shows the title as the site wrote it, the encoded word as literal text.
        assert INJECTION in str(received["Subject"])
        assert (
            received.get_body(("plain",))
            .get_content()
            .startswith(("=?utf-8?q?", "Maroc : =?utf-8?q?", "IA =?utf-8?q?"))
        )


def test_a_subject_is_one_line_without_controls_surrogates_or_bidi_overrides() -> None:
    message = email_message(
        alert(DIRTY + "\nBcc: x@evil.ma\u2028Cc: y@evil.ma"), "v@example.ma", ["a@example.ma"]
    )
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    shown = str(parsed["Subject"])
    assert shown == "[Veille] ia: Le Maroc et l’IA[31m facture fdp.exe Bcc: x@evil.ma Cc: y@evil.ma"
    assert parsed["Bcc"] is None and parsed["Cc"] is None
    assert shown == message["Subject"]


def test_alert_texts_and_payloads_carry_no_control_surrogate_or_override() -> None:
    hostile = alert(DIRTY, author="\u202eevil", summary="a\x00b", url="https://a.ma/x-1\x00")
    for text in (
        plain_text(hostile),
        email_message(hostile, "v@e.ma", ["a@e.ma"]).get_body(("html",)).get_content(),
        webhook_payload(hostile).decode("utf-8"),
    ):
        assert not any(c in text for c in ("\x00", "\x1b", "\u202e", "\ud800")), text
    data = json.loads(webhook_payload(hostile))
    assert data["article"]["title"] == "Le Maroc et l’IA[31m  facture fdp.exe"
    assert data["article"]["author"] == "evil"
    digest = digest_message(
        [hostile, replace(hostile, delivery_id="6f0c3f5e-1111-5222-8333-444455556666")],
        "w",
        "v@e.ma",
        ["a@e.ma"],
    )
    assert b"\x00" not in digest.as_bytes() and "\u202e" not in digest.get_body(("plain",)).get_content()


def test_a_header_that_would_break_a_line_is_refused_whatever_path_its_value_took() -> None:
    message = new_message()
    message["X-Test"] = "=?utf-8?q?=0D=0AX-Evil:_1?="  # decoded by the header parser, not by us
    with pytest.raises(ValueError, match="X-Test header would carry a line break"):
        message.as_bytes()


def test_the_subject_encodes_a_lookalike_encoded_word_and_keeps_plain_ascii_plain() -> None:
    assert subject(alert("Plain title")) == "[Veille] ia: Plain title"
    raw = email_message(alert("Plain title"), "v@e.ma", ["a@e.ma"]).as_bytes()
    assert b"Subject: [Veille] ia: Plain title\n" in raw
    raw = email_message(alert("a =?x?= b"), "v@e.ma", ["a@e.ma"]).as_bytes()
    assert b"Subject: =?utf-8?" in raw
    assert str(email.message_from_bytes(raw, policy=policy.default)["Subject"]) == "[Veille] ia: a =?x?= b"


def test_safe_text_and_safe_line() -> None:
    assert safe_text("a\x00b\r\nc\u202ed\u2066e\u2069\ud800f\u200fg\th\x85") == "ab\ncdef\u200fg\th"
    assert safe_line("  a\n\nb\u2028c\u2029d\x0ce\x1ff  ") == "a b c d e f"
    assert safe_line("a b c d", 6) == "a b c"
    assert safe_text("الذكاء الاصطناعي") == "الذكاء الاصطناعي"


def test_extraction_and_the_archive_keep_no_unsafe_character(tmp_path: Path) -> None:
    # A lone surrogate in a JSON-LD headline once made SQLite refuse the whole batch.
    page = (
        '<html><head><script type="application/ld+json">{"@type": "NewsArticle", "headline": '
        '"Le Maroc\\ud800 et l\\u2019IA \\u202efdp.exe", "author": {"name": "A\\u0000B"}}</script></head>'
        f"<body><article><p>{BODY}\u202e\x00</p></article></body></html>"
    )
    extracted = extract_article(page, "https://a.ma/x-2", SiteRules())
    assert extracted.title == "Le Maroc et l’IA fdp.exe" and extracted.author == "AB"
    assert "\u202e" not in (extracted.body or "") and "\x00" not in (extracted.body or "")
    archive = Archive.open(tmp_path / "a.db")
    watcher = Watcher(name="w", title="w", topics=("ia",), email=("a@example.ma",))
    item = ArticleItem(
        source="s",
        url="https://a.ma/x-3",
        title=DIRTY,
        body=BODY + "\x00\ud800",
        language="fr",
        author="\u202eX",
        guid="g\x00",
    )
    archive.store_many([build_record(item)], matching(MATCHER, (watcher,)))
    row = archive.db.execute("SELECT title, body, author, guid FROM articles").fetchone()
    assert (
        row[0] == "Le Maroc et l’IA[31m  facture fdp.exe"
        and row[1] == BODY
        and row[2] == "X"
        and row[3] == "g"
    )
    archive.close()


def test_a_hostile_title_reaches_the_watcher_as_text_through_dispatch(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    archive = Archive.open(tmp_path / "a.db")
    watcher = Watcher(name="w", title="w", topics=("ia",), email=("a@example.ma",))
    item = ArticleItem(
        source="s", url="https://a.ma/x-4", title=f"{INJECTION} {BIDI}", body=BODY, language="fr"
    )
    archive.store_many([build_record(item)], matching(MATCHER, (watcher,)))
    settings = Policy(SmtpSettings("127.0.0.1", smtp.port, tls="none", timeout=5), max_attempts=3)
    result = dispatch_due(archive.db.conn, {"w": watcher}, settings, datetime.now(UTC) + timedelta(seconds=5))
    assert result.sent == 1, result.errors
    (raw,) = smtp.mailbox.raw
    assert b"X-Evil" not in header_names(raw) and b"Reply-To" not in header_names(raw)
    assert str(smtp.mailbox.messages[0]["Subject"]) == f"[Veille] ia: {INJECTION} facture fdp.exe"
    archive.close()
