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

SCHEMA = "veille.alert/1"
SNIPPET = 220


@dataclass(frozen=True)
class Alert:
    """One story owed to one watcher: the article, why it matched, and the other sites."""

    delivery_id: str
    watcher: str
    topics: tuple[str, ...]
    article: dict[str, Any]
    matches: tuple[dict[str, Any], ...] = ()  # {topic, terms, spans: [{term, field, start, end, text}]}
    others: tuple[dict[str, Any], ...] = field(default=())  # {source, url, title}


def snippet(text: str, spans: list[dict[str, Any]], mark: tuple[str, str] = ("«", "»"),
            escape: bool = False, around: int | None = None) -> str:
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
    """Python's default policy, except for a non-ASCII Subject. When the default policy folds one it
    leaves the space between two encoded words outside both, where RFC 2047 tells mail readers to
    drop it: 28 of 74 real Moroccan titles arrived with two words glued ("millionsd’euros",
    "الاصطناعيفي"). The legacy encoder keeps every space inside the encoded words, each at most 75
    characters, so folding between them loses nothing."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() != "subject" or str(value).isascii():
            return super().fold(name, value)
        # 74: lines, and so encoded words, stay under RFC 2047's 75 characters.
        encoded = Header(str(value), "utf-8", maxlinelen=74, header_name=name).encode(linesep=self.linesep)
        return f"{name}: {encoded}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() != "subject" or str(value).isascii():
            return super().fold_binary(name, value)
        return self.fold(name, value).encode("ascii")


EMAIL_POLICY = _SubjectPolicy()


def new_message() -> EmailMessage:
    """An empty email whose non-ASCII headers survive encoding (see EMAIL_POLICY)."""
    return EmailMessage(policy=EMAIL_POLICY)


def subject(alert: Alert) -> str:
    """'[Veille] ia, jazari: <title>' (UTF-8; the mail library encodes it)."""
    title = " ".join((alert.article.get("title") or "(sans titre)").split())
    return f"[Veille] {', '.join(alert.topics)}: {title}"[:200]


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
    lines = [article.get("title") or "", f"{article.get('source')} · {article.get('published_at') or ''}",
             article.get("url") or "", "", snippet(article.get("body") or "", body_spans(alert)), "",
             f"Topics: {', '.join(alert.topics)} (terms: {', '.join(terms)})"]
    if alert.others:
        lines += ["", "Also carried by:"] + [f"- {o['source']}: {o['url']}" for o in alert.others]
    return "\n".join(lines) + "\n"


def html_text(alert: Alert) -> str:
    """The HTML part: everything from the article escaped, every block dir="auto"."""
    a, esc = alert.article, html.escape
    found = snippet(a.get("body") or "", body_spans(alert), ("<mark>", "</mark>"), escape=True)
    others = "".join(f'<li dir="auto">{esc(o["source"])}: <a href="{esc(o["url"], quote=True)}">'
                     f'{esc(o.get("title") or o["url"])}</a></li>' for o in alert.others)
    return (
        '<!DOCTYPE html><html><body>'
        f'<h2 dir="auto"><a href="{esc(a.get("url") or "", quote=True)}">{esc(a.get("title") or "")}</a></h2>'
        f'<p dir="auto">{esc(str(a.get("source") or ""))} · {esc(str(a.get("published_at") or ""))}</p>'
        f'<p dir="auto">{found}</p>'
        f'<p dir="auto">Topics: {esc(", ".join(alert.topics))} (terms: {esc(", ".join(_terms(alert)))})</p>'
        + (f'<p>Also carried by:</p><ul>{others}</ul>' if others else "")
        + "</body></html>")


def _terms(alert: Alert) -> list[str]:
    return list(dict.fromkeys(t for m in alert.matches for t in m.get("terms", [])))


def webhook_payload(alert: Alert) -> bytes:
    """The JSON body of schema veille.alert/1 (documented in the README)."""
    article = {k: alert.article.get(k) for k in ("id", "url", "title", "source", "language",
                                                   "published_at", "author", "summary")}
    data = {"schema": SCHEMA, "delivery_id": alert.delivery_id, "watcher": alert.watcher,
            "topics": list(alert.topics), "article": article, "matches": list(alert.matches),
            "story": {"other_sites": list(alert.others)}}
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")


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
    plain, rich = [], ['<!DOCTYPE html><html><body>']
    for topic, members in groups.items():
        plain.append(f"== {topic} ==")
        rich.append(f"<h2>{html.escape(topic)}</h2>")
        for alert in members:
            plain.append(plain_text(alert))
            rich.append(html_text(alert).removeprefix("<!DOCTYPE html><html><body>")
                        .removesuffix("</body></html>") + "<hr>")
    message.set_content("\n".join(plain))
    message.add_alternative("".join(rich) + "</body></html>", subtype="html")
    return message
