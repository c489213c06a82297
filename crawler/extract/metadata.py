"""Structured metadata of an article page: JSON-LD, OpenGraph, meta tags, <time> (pure functions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector

ARTICLE_TYPES = {
    "newsarticle",
    "article",
    "reportagenewsarticle",
    "blogposting",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "backgroundnewsarticle",
    "livebloposting",
    "webpage",
}


def _walk_jsonld(node: Any) -> Iterator[dict]:
    if isinstance(node, list):
        for item in node:
            yield from _walk_jsonld(item)
    elif isinstance(node, dict):
        yield node
        yield from _walk_jsonld(node.get("@graph", []))


def _types(node: dict) -> set[str]:
    kinds = node.get("@type", [])
    return {str(k).lower() for k in (kinds if isinstance(kinds, list) else [kinds])}


def jsonld_article(doc: Selector) -> dict[str, Any]:
    """The first JSON-LD object of an article type (NewsArticle first), or {}."""
    candidates: list[dict] = []
    for script in doc.xpath("//script[@type='application/ld+json']/text()").getall():
        try:
            data = json.loads(script.strip(), strict=False)
        except ValueError:
            continue
        candidates += [n for n in _walk_jsonld(data) if _types(n) & ARTICLE_TYPES]
    candidates.sort(key=lambda n: "webpage" in _types(n))
    return candidates[0] if candidates else {}


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        names = [n for n in map(_name, value) if n]
        return ", ".join(dict.fromkeys(names)) or None
    if isinstance(value, dict):
        return _name(value.get("name"))
    if isinstance(value, str) and value.strip() and not value.startswith("http"):
        return value.strip()
    return None


def _meta(doc: Selector, *names: str) -> str | None:
    for name in names:
        value = doc.xpath(
            f"//meta[@property='{name}' or @name='{name}' or @itemprop='{name}']/@content"
        ).get()
        if value and value.strip():
            return value.strip()
    return None


def page_metadata(doc: Selector) -> dict[str, str | None]:
    """Title, canonical, dates, author, language and description declared by the page."""
    ld = jsonld_article(doc)
    url = ld.get("mainEntityOfPage")
    url = url.get("@id") if isinstance(url, dict) else url
    return {
        "title": _text(ld.get("headline"))
        or _meta(doc, "og:title", "twitter:title")
        or _first_text(doc, "//h1")
        or _strip_site_name(doc.xpath("//title/text()").get()),
        "canonical": doc.xpath("//link[@rel='canonical']/@href").get()
        or _meta(doc, "og:url")
        or (url if isinstance(url, str) else None),
        "published": _text(ld.get("datePublished"))
        or _meta(doc, "article:published_time", "datePublished", "pubdate", "publish-date", "date")
        or doc.xpath("//time[@datetime][1]/@datetime").get(),
        "modified": _text(ld.get("dateModified"))
        or _meta(doc, "article:modified_time", "dateModified", "og:updated_time"),
        "author": _name(ld.get("author")) or _meta(doc, "author", "article:author", "dc.creator"),
        "language": _text(ld.get("inLanguage"))
        or doc.xpath("/html/@lang").get()
        or _meta(doc, "og:locale", "language"),
        "description": _text(ld.get("description")) or _meta(doc, "og:description", "description"),
        "body": _text(ld.get("articleBody")),
    }


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


DATE_NODES = (
    "//time[not(@datetime)] | //*[contains(@class, 'date') or contains(@class, 'time')]"
    "[not(contains(@class, 'updat') or contains(@class, 'modif'))]"
)
AUTHOR_NODES = "//*[@rel='author'] | //*[contains(@class, 'author') or contains(@class, 'byline')]"
BYLINE_PREFIX = re.compile(r"^\s*(?:par|by|بقلم|كتبه|إعداد)\s*[:\-–]?\s*", re.IGNORECASE)
SITE_SUFFIX = re.compile(r"\s+[-–—|]\s+[^-–—|]{2,40}$")
MAX_LINE = 80


def visible_dates(doc: Selector) -> list[str]:
    """Short texts of the page's date-like elements, in document order (publication first)."""
    texts = (" ".join(node.xpath("normalize-space(.)").getall()) for node in doc.xpath(DATE_NODES))
    return [t for t in dict.fromkeys(texts) if t and len(t) <= MAX_LINE]


def visible_author(doc: Selector) -> str | None:
    """The text of the first byline-like element, without its 'Par'/'By' prefix."""
    for node in doc.xpath(AUTHOR_NODES):
        text = BYLINE_PREFIX.sub("", node.xpath("normalize-space(.)").get() or "").strip()
        if text and len(text) <= MAX_LINE:
            return text
    return None


def _first_text(doc: Selector, xpath: str) -> str | None:
    node = doc.xpath(xpath)
    return _text(node[0].xpath("normalize-space(.)").get()) if node else None


def _strip_site_name(title: str | None) -> str | None:
    """'Headline - Site' as 'Headline'."""
    return SITE_SUFFIX.sub("", title.strip()) if title and title.strip() else None
