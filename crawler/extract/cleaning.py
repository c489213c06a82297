"""Turning feed and page HTML fragments into clean text (pure functions)."""

from __future__ import annotations

import html
import re

from lxml import etree
from lxml import html as lxml_html

# WordPress's feed footer, in English and in French ("L’article … est apparu en premier sur …"): a
# last paragraph of its own, or glued to the "[…]" that ends an excerpt. Anchored so that a
# sentence such as "L'article 47 de la Constitution…" earlier in the text is never taken for it.
WP_FOOTER = re.compile(
    r"(?:\s*\[(?:…|\.\.\.|&#8230;)\]\s*|\s*\n\s*|^\s*)"
    r"(?:The post [^\n]{1,600}? appeared first on|L[’']article [^\n]{1,600}? est apparu en premier sur)"
    r" [^\n]{1,200}?\.?\s*$"
)
TRAILING_ELLIPSIS = re.compile(r"\s*\[(?:…|\.\.\.)\]\s*$")
# Runs of ordinary spaces only: French typography's non-breaking spaces are part of the text.
# Only what changes: a lone space is left alone (replacing each of thousands cost more than the rest).
SPACES = re.compile(r"[ \t]{2,}|\t")
BLANK_LINES = re.compile(r"\n\s*\n+")
BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote", "tr", "section")
# What no article text may carry: C0 and C1 controls but tab and newline (NUL, CR, ESC...), lone
# surrogates (no encoder takes them: one in a JSON-LD headline made SQLite refuse a whole batch),
# and the bidi embeddings, overrides and isolates (U+202E shows "fdp.exe" as "exe.pdf"). The
# marks LRM and RLM stay: Arabic text uses them, and they reorder nothing around them.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def html_to_text(fragment: str | None) -> str:
    """Text of an HTML fragment, one paragraph per line, entities decoded."""
    if not fragment:
        return ""
    if "<" not in fragment:
        return tidy(html.unescape(fragment))
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return tidy(html.unescape(re.sub(r"<[^>]+>", " ", fragment)))
    etree.strip_elements(root, "script", "style", "noscript", with_tail=False)
    for element in root.iter(*BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    return tidy(root.text_content())


def safe_text(text: str) -> str:
    """The text without controls (but tab and newline), lone surrogates or bidi overrides."""
    return UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n")) if UNSAFE.search(text) else text


def safe_line(text: str, limit: int = 300) -> str:
    """One line of safe text for a header or a title: every run of whitespace (line and paragraph
    separators too) one space, at most `limit` characters."""
    return safe_text(" ".join(text.split()))[:limit].rstrip()


def tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines; strip each line."""
    text = SPACES.sub(" ", text.replace("\r", ""))
    lines = (line.strip() for line in text.split("\n"))
    return BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def strip_feed_footer(text: str) -> str:
    """Drop WordPress's 'The post … appeared first on …' footer and a trailing '[…]'."""
    text = WP_FOOTER.sub("", text)
    return TRAILING_ELLIPSIS.sub("", text).strip()


def clean_summary(fragment: str | None) -> str | None:
    """A feed description as plain text, without the WordPress footer."""
    text = strip_feed_footer(html_to_text(fragment))
    return text or None
