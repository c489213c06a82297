"""Alert content: the email parts, escaping, right-to-left Arabic, the signed webhook payload."""

from __future__ import annotations

import email
import itertools
import json
from email import policy

from alerts.render import Alert, email_message, signature, snippet, verify, webhook_payload

BODY = "مقدمة طويلة. يهتم المغرب بالذكاء الاصطناعي في التعليم والصحة. خاتمة."
START = BODY.index("الذكاء")
ALERT = Alert(
    delivery_id="5f0c3f5e-1111-5222-8333-444455556666",
    watcher="cellule-ia",
    topics=("ia",),
    article={
        "id": 7,
        "url": "https://www.hespress.com/x-1701661.html",
        "title": "<script>alert(1)</script> الذكاء",
        "source": "hespress-ar",
        "language": "ar",
        "published_at": "2026-02-15T03:12:22Z",
        "body": BODY,
    },
    matches=(
        {
            "topic": "ia",
            "terms": ["الذكاء الاصطناعي"],
            "spans": [
                {
                    "term": "الذكاء الاصطناعي",
                    "field": "body",
                    "start": START,
                    "end": START + len("الذكاء الاصطناعي"),
                    "text": "الذكاء الاصطناعي",
                }
            ],
        },
    ),
    others=({"source": "le360-ar", "url": "https://ar.le360.ma/y_ABC/", "title": "عنوان آخر"},),
)


def test_email_is_multipart_with_a_utf8_subject_and_escaped_html() -> None:
    raw = email_message(ALERT, "veille@example.ma", ["a@example.ma"]).as_bytes()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "[Veille] ia: <script>alert(1)</script> الذكاء"
    assert parsed["X-Veille-Delivery"] == ALERT.delivery_id
    plain = parsed.get_body(("plain",)).get_content()
    html_part = parsed.get_body(("html",)).get_content()
    assert "«الذكاء الاصطناعي»" in plain and "le360-ar: https://ar.le360.ma/y_ABC/" in plain
    assert "<script>" not in html_part and "&lt;script&gt;" in html_part
    assert "<mark>الذكاء الاصطناعي</mark>" in html_part and 'dir="auto"' in html_part


def test_snippet_marks_spans_and_escapes_between_them() -> None:
    text = "a < b et l'IA > c"
    spans = [{"start": 11, "end": 13}]
    assert snippet(text, spans, ("<b>", "</b>"), escape=True) == "a &lt; b et l&#x27;<b>IA</b> &gt; c"


def test_webhook_payload_is_versioned_and_signed() -> None:
    body = webhook_payload(ALERT)
    data = json.loads(body)
    assert data["schema"] == "veille.alert/1" and data["delivery_id"] == ALERT.delivery_id
    assert data["matches"][0]["spans"][0]["text"] == "الذكاء الاصطناعي"
    assert data["story"]["other_sites"][0]["source"] == "le360-ar"
    header = signature(body, "s3cret")
    assert header.startswith("sha256=") and verify(body, "s3cret", header)
    assert not verify(body + b" ", "s3cret", header) and not verify(body, "other", header)


def test_every_real_title_survives_the_subject_encoding() -> None:
    # Folded at 78 characters, Python left the space between two encoded words outside both, where
    # RFC 2047 readers drop it: 28 of these 74 subjects arrived with two words glued together.
    from dataclasses import replace
    from pathlib import Path

    from alerts.render import digest_message

    real = json.loads(
        (Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json").read_text("utf-8")
    )
    titles = [a["title"] for a in real if a.get("title")] + [
        (
            "L’UE accorde 101,7 millions d’euros au Maroc pour la gestion des frontières et la lutte contre les "
            "migrations"
        ),
        "الذكاء الاصطناعي في الطب",
    ]
    for title in titles:
        alert = replace(ALERT, topics=("ia", "jazari"), article=dict(ALERT.article, title=title))
        for message in (
            email_message(alert, "v@example.ma", ["a@example.ma"]),
            digest_message([alert], "cellule-ia", "v@example.ma", ["a@example.ma"]),
        ):
            raw = message.as_bytes()
            assert str(email.message_from_bytes(raw, policy=policy.default)["Subject"]) == message["Subject"]
            lines = raw.split(b"\n\n", 1)[0].splitlines()
            at = next(i for i, line in enumerate(lines) if line.startswith(b"Subject: "))
            subject = [
                lines[at][len(b"Subject: ") :],
                *itertools.takewhile(lambda line: line.startswith(b" "), lines[at + 1 :]),
            ]
            assert max(len(word) for line in subject for word in line.split()) <= 75  # RFC 2047
            # Only the subject is exempt from folding: the body keeps 76-character base64 lines.
            body = raw.split(b"\n\n", 1)[1]
            assert max(len(line) for line in body.splitlines()) <= 78
