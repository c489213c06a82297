"""Article extraction: per-site selectors, then structured metadata, then trafilatura, then route hints."""

from __future__ import annotations

import re
from copy import copy
from dataclasses import dataclass, field
from datetime import datetime

import trafilatura
from parsel import Selector
from trafilatura.settings import Extractor

from crawler.extract.cleaning import html_to_text, safe_text, strip_feed_footer, tidy
from crawler.extract.dates import format_utc, parse_date
from crawler.extract.feeds import FeedEntry
from crawler.extract.language import choose_language
from crawler.extract.metadata import page_metadata, visible_author, visible_dates
from crawler.extract.selectors import select, select_text

# A link to another article inside the body ("Lire aussi : …"): trafilatura keeps it as a paragraph.
READ_ALSO = re.compile(
    r"\s*(?:[àa] lire aussi|lire aussi|voir aussi|read also|also read|read more|"
    r"اقرأ أيضا|اقرأ ايضا|اقرأ أيضاً|إقرأ أيضا)\b.{0,200}$",
    re.IGNORECASE,
)
REQUIRED = ("title", "body", "published_at")
MIN_BODY = 80
# fast: no comparison with justext, which doubled the time without changing news bodies. Built once:
# trafilatura otherwise reads its ConfigParser again for every page (a tenth of its time here).
TRAFILATURA = Extractor(
    fast=True, precision=True, comments=False, tables=False, dedup=False, with_metadata=False
)


@dataclass(frozen=True)
class Extracted:
    """The fields of one article page, and which important ones could not be found."""

    title: str | None
    canonical: str | None
    published_at: str | None
    modified_at: str | None
    author: str | None
    language: str | None
    summary: str | None
    body: str | None
    missing: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SiteRules:
    """What the source config says about its pages."""

    selectors: dict[str, str] = field(default_factory=dict)
    timezone: str = "Africa/Casablanca"
    languages: tuple[str, ...] = ()


def extract_article(
    html: str, url: str, rules: SiteRules, hints: FeedEntry | None = None, now: datetime | None = None
) -> Extracted:
    """Extract an article from its page; a per-site selector wins for the field it names."""
    doc = Selector(text=html)
    meta = page_metadata(doc)
    hints = hints or FeedEntry(url=url)
    title = _override(doc, rules, "title") or meta["title"] or hints.title
    body = _override_body(doc, rules) or _generic_body(doc, url, title) or meta["body"] or hints.content
    published = (
        _date(_override(doc, rules, "date"), rules, now)
        or _date(meta["published"], rules, now)
        or hints.published_at
        or _visible_date(doc, rules, now)
    )
    summary = strip_feed_footer(meta["description"] or "") or hints.summary
    text_for_language = " ".join(filter(None, (title, summary, (body or "")[:1500])))
    found = {"title": title, "body": body, "published_at": published}
    author = _override(doc, rules, "author") or meta["author"] or hints.author or visible_author(doc)
    return Extracted(
        title=safe_text(tidy(title)) if title else None,
        canonical=meta["canonical"],
        published_at=published,
        modified_at=_date(meta["modified"], rules, now) or hints.updated_at,
        author=safe_text(author) if author else None,
        language=choose_language(text_for_language, [meta["language"], hints.language], rules.languages),
        summary=safe_text(summary) if summary else None,
        body=safe_text(body) if body else None,
        missing=tuple(name for name in REQUIRED if not found[name]),
    )


def _override(doc: Selector, rules: SiteRules, name: str) -> str | None:
    selector = rules.selectors.get(name)
    return select_text(doc, selector) if selector else None


def _override_body(doc: Selector, rules: SiteRules) -> str | None:
    selector = rules.selectors.get("body")
    if not selector:
        return None
    parts = [html_to_text(node.get()) for node in select(doc, selector)]
    return "\n\n".join(p for p in parts if p) or None


def _generic_body(doc: Selector, url: str, title: str | None) -> str | None:
    # The tree parsel already built (trafilatura works on a copy): parsing the page again cost 15%
    # of the extraction, and gave the same text on every captured Moroccan page.
    options = copy(TRAFILATURA)
    options.url = options.source = url
    text = trafilatura.extract(doc.root, options=options)
    if not text:
        return None
    lines = text.split("\n")
    if title and lines and lines[0].strip() == title.strip():
        lines = lines[1:]  # trafilatura repeats the headline as the first line
    body = tidy("\n\n".join(line for line in lines if line.strip() and not READ_ALSO.match(line)))
    return body if len(body) >= MIN_BODY else None


def _visible_date(doc: Selector, rules: SiteRules, now: datetime | None) -> str | None:
    for text in visible_dates(doc):
        found = _date(text, rules, now)
        if found:
            return found
    return None


def _date(raw: str | None, rules: SiteRules, now: datetime | None) -> str | None:
    if not raw:
        return None
    found = parse_date(raw, now=now, tz=rules.timezone)
    return format_utc(found) if found else None
