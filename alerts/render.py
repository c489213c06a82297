"""What an alert says: the email (plain text and HTML) and the signed webhook payload (pure).

Everything taken from an article is HTML-escaped in the HTML part; Arabic reads right to left
because every block carries dir="auto".
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from dataclasses import dataclass, field
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from crawler.extract.cleaning import safe_line, safe_text

SCHEMA = "veille.alert/1"
SNIPPET = 220
SUBJECT_MAX = 200


@dataclass(frozen=True)
class Alert:
    """One story owed to one watcher: the article, why it matched, and the other sites."""

    delivery_id: str
    watcher: str
    topics: tuple[str, ...]
    article: dict[str, Any]
    matches: tuple[dict[str, Any], ...] = ()  # {topic, terms, spans: [{term, field, start, end, text}]}
    others: tuple[dict[str, Any], ...] = field(default=())  # {source, url, title}


def snippet(
    text: str,
    spans: list[dict[str, Any]],
    mark: tuple[str, str] = ("«", "»"),
    escape: bool = False,
    around: int | None = None,
) -> str:
    """Up to SNIPPET characters around the first matched span (or offset `around`), every span in
    it marked."""
    if not text:
        return ""
    spans = sorted({(s["start"], s["end"]) for s in spans})
    anchor = around if around is not None else spans[0][0] if spans else None
    start = max(0, anchor - SNIPPET // 3) if anchor is not None else 0
    end = min(len(text), start + SNIPPET)
    out, cursor = [], start
    for a, b in spans:
        if a < cursor or b > end:
            continue
        out += [_text(text[cursor:a], escape), mark[0], _text(text[a:b], escape), mark[1]]
        cursor = b
    out.append(_text(text[cursor:end], escape))
    return ("… " if start else "") + " ".join("".join(out).split()) + (" …" if end < len(text) else "")


def _text(value: str, escape: bool) -> str:
    return html.escape(value) if escape else value


def body_spans(alert: Alert) -> list[dict[str, Any]]:
    """The spans of every match found in the article's body."""
    return [s for m in alert.matches for s in m.get("spans", []) if s.get("field") == "body"]


class _SubjectPolicy(email_policy.EmailPolicy):
    """Python's default policy, except for the Subject, and a last check on every header.

    The Subject is kept as the text we give it and encoded by us. The default policy parses a
    header when it is set, decoding any RFC 2047 encoded word in it, then folds the decoded text
    raw: a title holding `=?utf-8?q?=0D=0AReply-To:...?=` put the attacker's headers and body on
    the wire (Python 3.11 and 3.12). So a Subject that is not plain ASCII, or that looks like an
    encoded word, is always encoded whole by the legacy encoder, and a reader shows its text as
    written. That encoder also keeps every space inside the encoded words, each at most 75
    characters: the default folding left the space between two encoded words outside both, where
    RFC 2047 tells readers to drop it, and 28 of 74 real Moroccan titles arrived with two words
    glued ("millionsd’euros", "الاصطناعيفي")."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if name.lower() != "subject" or not isinstance(value, str):
            return super().header_store_parse(name, value)
        return (name, safe_line(value, SUBJECT_MAX))

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if name.lower() != "subject" or not isinstance(value, str) or not _needs_encoding(value):
            return super().header_fetch_parse(name, value)
        return super().header_fetch_parse(name, _encoded(value, name, self.linesep))

    def fold(self, name: str, value: Any) -> str:
        if name.lower() == "subject" and isinstance(value, str) and _needs_encoding(value):
            return _checked(name, f"{name}: {_encoded(value, name, self.linesep)}{self.linesep}")
        return _checked(name, super().fold(name, value))

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "subject" and isinstance(value, str) and _needs_encoding(value):
            return self.fold(name, value).encode("ascii")
        folded = super().fold_binary(name, value)
        _checked(name, folded.decode("ascii", "replace"))
        return folded


def _needs_encoding(text: str) -> bool:
    return not text.isascii() or "=?" in text


def _encoded(text: str, name: str, linesep: str) -> str:
    # 74: lines, and so encoded words, stay under RFC 2047's 75 characters.
    return Header(text, "utf-8", maxlinelen=74, header_name=name).encode(linesep=linesep)


def _checked(name: str, folded: str) -> str:
    """A folded header, refused if a line break in it starts anything but a continuation line: the
    mark of a header injected through a value, whatever path the value took."""
    lines = folded.replace("\r\n", "\n").rstrip("\n").split("\n")
    if (
        "\r" in folded.replace("\r\n", "")
        or "\0" in folded
        or any(not line[:1].isspace() for line in lines[1:])
    ):
        raise ValueError(f"the {name} header would carry a line break or a NUL; the message is not sent")
    return folded


EMAIL_POLICY = _SubjectPolicy()


def new_message() -> EmailMessage:
    """An empty email whose non-ASCII headers survive encoding (see EMAIL_POLICY)."""
    return EmailMessage(policy=EMAIL_POLICY)


def subject(alert: Alert) -> str:
    """'[Veille] ia, jazari: <title>' on one line, controls removed (UTF-8; EMAIL_POLICY encodes it)."""
    title = safe_line(alert.article.get("title") or "") or "(sans titre)"
    return safe_line(f"[Veille] {', '.join(alert.topics)}: {title}", SUBJECT_MAX)


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """A multipart plain text + HTML message for one alert."""
    message = new_message()
    message["Subject"] = subject(alert)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(idstring=alert.delivery_id.replace("-", ""), domain="veille.local")
    message["X-Veille-Delivery"] = alert.delivery_id
    message.set_content(plain_text(alert))
    message.add_alternative(html_text(alert), subtype="html")
    return message


def plain_text(alert: Alert) -> str:
    """The plain-text part."""
    article, terms = alert.article, _terms(alert)
    lines = [
        _line(article, "title"),
        f"{article.get('source')} · {article.get('published_at') or ''}",
        _line(article, "url"),
        "",
        snippet(article.get("body") or "", body_spans(alert)),
        "",
        f"Topics: {', '.join(alert.topics)} (terms: {', '.join(terms)})",
    ]
    if alert.others:
        lines += ["", "Also carried by:"] + [f"- {o['source']}: {_line(o, 'url')}" for o in alert.others]
    return safe_text("\n".join(lines) + "\n")


def html_text(alert: Alert) -> str:
    """The HTML part: everything from the article escaped, every block dir="auto"."""
    a, esc = alert.article, html.escape
    found = snippet(a.get("body") or "", body_spans(alert), ("<mark>", "</mark>"), escape=True)
    others = "".join(
        f'<li dir="auto">{esc(o["source"])}: <a href="{esc(_line(o, "url"), quote=True)}">'
        f"{esc(_line(o, 'title') or _line(o, 'url'))}</a></li>"
        for o in alert.others
    )
    return safe_text(
        "<!DOCTYPE html><html><body>"
        f'<h2 dir="auto"><a href="{esc(_line(a, "url"), quote=True)}">{esc(_line(a, "title"))}</a></h2>'
        f'<p dir="auto">{esc(str(a.get("source") or ""))} · {esc(str(a.get("published_at") or ""))}</p>'
        f'<p dir="auto">{found}</p>'
        f'<p dir="auto">Topics: {esc(", ".join(alert.topics))} (terms: {esc(", ".join(_terms(alert)))})</p>'
        + (f"<p>Also carried by:</p><ul>{others}</ul>" if others else "")
        + "</body></html>"
    )


def _line(record: dict[str, Any], key: str) -> str:
    """A title or URL of an article as one safe line (a stored title may predate the extraction's
    own cleaning)."""
    return safe_line(str(record.get(key) or ""), 1000)


def safe_data(value: Any) -> Any:
    """JSON data with every string made safe (no controls, lone surrogates or bidi overrides)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {k: safe_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_data(v) for v in value]
    return value


def _terms(alert: Alert) -> list[str]:
    return list(dict.fromkeys(t for m in alert.matches for t in m.get("terms", [])))


def webhook_payload(alert: Alert) -> bytes:
    """The JSON body of schema veille.alert/1 (documented in the README)."""
    article = {
        k: alert.article.get(k)
        for k in ("id", "url", "title", "source", "language", "published_at", "author", "summary")
    }
    data = {
        "schema": SCHEMA,
        "delivery_id": alert.delivery_id,
        "watcher": alert.watcher,
        "topics": list(alert.topics),
        "article": article,
        "matches": list(alert.matches),
        "story": {"other_sites": list(alert.others)},
    }
    return json.dumps(safe_data(data), ensure_ascii=False, sort_keys=True).encode("utf-8")


def signature(body: bytes, secret: str) -> str:
    """X-Veille-Signature: 'sha256=' + HMAC-SHA256 of the body, as GitHub signs its webhooks."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """How a receiver checks a payload (constant-time comparison)."""
    return hmac.compare_digest(signature(body, secret), header)


def digest_message(alerts: list[Alert], watcher: str, sender: str, recipients: list[str]) -> EmailMessage:
    """One message for several alerts: grouped by topic, newest first in each group."""
    groups: dict[str, list[Alert]] = {}
    for alert in sorted(alerts, key=lambda a: a.article.get("published_at") or "", reverse=True):
        groups.setdefault(alert.topics[0] if alert.topics else "", []).append(alert)
    message = new_message()
    count = f"{len(alerts)} article{'s' if len(alerts) > 1 else ''}"
    message["Subject"] = f"[Veille] {watcher}: {count} ({', '.join(groups)})"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-Veille-Delivery"] = ",".join(a.delivery_id for a in alerts)
    plain, rich = [], ["<!DOCTYPE html><html><body>"]
    for topic, members in groups.items():
        plain.append(f"== {topic} ==")
        rich.append(f"<h2>{html.escape(topic)}</h2>")
        for alert in members:
            plain.append(plain_text(alert))
            rich.append(
                html_text(alert).removeprefix("<!DOCTYPE html><html><body>").removesuffix("</body></html>")
                + "<hr>"
            )
    message.set_content("\n".join(plain))
    message.add_alternative("".join(rich) + "</body></html>", subtype="html")
    return message
