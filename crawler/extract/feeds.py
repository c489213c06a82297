"""RSS, Atom and JSON Feed parsing on downloaded bytes (feedparser never fetches here)."""

from __future__ import annotations

import calendar
import html
import io
import itertools
import json
import logging
import re
import xml.sax
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import feedparser

from crawler.exceptions import FeedError
from crawler.extract.cleaning import clean_summary, html_to_text, strip_feed_footer
from crawler.extract.dates import format_utc, parse_date
from crawler.extract.xmlguard import check_xml_safety, looks_like_html

logger = logging.getLogger(__name__)
GOOGLE_NEWS = "news.google.com"
HREF = re.compile(r"""href=["']([^"']+)["']""")
T = TypeVar("T")
E = TypeVar("E")


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed or sitemap: where the article is and what the route says about it."""

    url: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    author: str | None = None
    published_at: str | None = None
    updated_at: str | None = None
    language: str | None = None


def parse_feed(
    body: bytes, url: str, headers: dict[str, str] | None = None, limit: int | None = None
) -> list[FeedEntry]:
    """Entries of an RSS/Atom/JSON feed; FeedError when the body is not a usable feed. With a
    limit, only the newest `limit` usable entries, newest first (see newest)."""
    return read_feed(body, url, headers, limit)[0]


def read_feed(
    body: bytes, url: str, headers: dict[str, str] | None = None, limit: int | None = None
) -> tuple[list[FeedEntry], int]:
    """parse_feed's entries, and how many items the document lists."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if _is_json(body, headers.get("content-type", "")):
        return _json_feed(body, url, limit)
    check_xml_safety(body)
    headers.setdefault("content-location", url)
    # BytesIO: given bytes or str, feedparser first tries them as a file name or URL.
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )
    language = _language(parsed.feed.get("language"))
    entries = newest(parsed.entries, limit, _item_date, lambda item: _safe_entry(item, url, language))
    if not entries:
        raise FeedError(_why_unusable(parsed, body, headers))
    return _drop_shared_guids(entries, [item.get("id") for item in parsed.entries]), len(parsed.entries)


def newest(
    items: list[T], limit: int | None, date: Callable[[T], str | None], convert: Callable[[T], E | None]
) -> list[E]:
    """The items converted, those `convert` refuses (None) left out. With a limit (a feed of
    100,000 items), only the newest `limit` are converted: by `date` (what published_at or
    updated_at will be), newest first, undated ones after in their order, as spiders.routes.newest_first
    orders converted entries."""
    if limit is None or len(items) <= limit:
        return [e for e in map(convert, items) if e is not None]
    dates = [date(item) for item in items]
    dated = sorted((i for i, d in enumerate(dates) if d), key=lambda i: dates[i], reverse=True)
    found: list[E] = []
    for index in itertools.chain(dated, (i for i, d in enumerate(dates) if not d)):
        entry = convert(items[index])
        if entry is not None:
            found.append(entry)
            if len(found) == limit:
                break
    return found


def _item_date(item: Any) -> str | None:
    try:
        return _struct_date(item, "published") or _struct_date(item, "updated")
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError):
        return None  # _safe_entry will say why it skips the item, if it does


def _safe_entry(entry: Any, base: str, language: str | None) -> FeedEntry | None:
    # One malformed item (an impossible date, a bad URL) must not cost the whole feed.
    try:
        return _entry(entry, base, language)
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError) as exc:
        logger.info("%s: skipping a malformed feed entry: %s", base, exc)
        return None


def _drop_shared_guids(entries: list[FeedEntry], guids: list[str | None] | None = None) -> list[FeedEntry]:
    """Forget GUIDs that several entries share: they identify nothing. `guids`: those of every item
    of the document, when the entries are only the newest few."""
    counts = Counter(g for g in (guids if guids is not None else [e.guid for e in entries]) if g)
    return [replace(e, guid=None) if e.guid and counts[e.guid] > 1 else e for e in entries]


def _language(value: Any) -> str | None:
    return str(value).split("-")[0].lower() or None if isinstance(value, str) and value else None


def _why_unusable(parsed: Any, body: bytes, headers: dict[str, str]) -> str:
    # Bozo alone is only a warning (wrong content type, charset override); a SAX error is not.
    error = parsed.get("bozo_exception")
    if not body.strip():
        return "empty response body (hint: the server answered with nothing)"
    if looks_like_html(body):
        kind = headers.get("content-type", "unknown").split(";")[0]
        return f"not a feed: the server sent an HTML page ({kind}) (hint: the feed URL may have moved)"
    if isinstance(error, xml.sax.SAXException):
        reason = str(error).splitlines()[0][:200]
        return f"malformed XML: {reason} (hint: the site publishes a broken feed)"
    if parsed.entries:
        return "no feed entry has a link (hint: check that the URL is the right feed)"
    return "the feed has no entries (hint: check that the URL is the right feed)"


def _entry(entry: Any, base: str, language: str | None) -> FeedEntry | None:
    link = entry.get("link") or _first_alternate(entry)
    guid = entry.get("id") or None
    if not link and guid and guid.startswith(("http://", "https://", "/")):
        link = guid
    if not link:
        return None
    content = entry.get("content", [{}])[0].get("value") if entry.get("content") else None
    title = html_to_text(entry.get("title")) or None
    if urlsplit(link).netloc == GOOGLE_NEWS:
        link, title, guid = _publisher_link(entry, link), _strip_publisher(entry, title), None
    return FeedEntry(
        url=urljoin(base, link.strip()),
        guid=guid,
        title=title,
        summary=clean_summary(entry.get("summary")),
        content=strip_feed_footer(html_to_text(content)) or None,
        author=entry.get("author") or None,
        published_at=_struct_date(entry, "published"),
        updated_at=_struct_date(entry, "updated"),
        language=language,
    )


def _publisher_link(entry: Any, link: str) -> str:
    """Google News items link to Google; the publisher's URL is in the description's <a href>."""
    for href in HREF.findall(entry.get("summary") or ""):
        if urlsplit(href).netloc not in ("", GOOGLE_NEWS):
            return html.unescape(href)
    return link


def _strip_publisher(entry: Any, title: str | None) -> str | None:
    """'Headline - Hespress' as 'Headline' when the item names Hespress as its source."""
    publisher = (entry.get("source") or {}).get("title")
    if title and publisher and title.endswith(f" - {publisher}"):
        return title[: -len(publisher) - 3].strip()
    return title


def _first_alternate(entry: Any) -> str | None:
    for link in entry.get("links", []):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link["href"]
    return None


def _struct_date(entry: Any, name: str) -> str | None:
    # dict.get: feedparser's own get() maps a missing 'updated' to 'published', with a warning.
    parsed = dict.get(entry, f"{name}_parsed")
    if parsed:
        try:
            return format_utc(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
        except (ValueError, OverflowError, OSError):
            return None  # an impossible date (year 0): keep the entry, drop the date
    raw = dict.get(entry, name)
    found = parse_date(raw) if raw else None
    return format_utc(found) if found else None


def _is_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type or body.lstrip()[:1] == b"{"


def _json_feed(body: bytes, url: str, limit: int | None = None) -> tuple[list[FeedEntry], int]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"malformed JSON feed: {exc} (hint: the site publishes a broken feed)") from exc
    if not isinstance(data, dict) or not re.search(r"jsonfeed\.org", str(data.get("version", ""))):
        raise FeedError("not a feed: JSON without a jsonfeed.org version (hint: check the URL)")
    items = [i for i in data.get("items", []) if isinstance(i, dict) and (i.get("url") or i.get("id"))]
    if not items:
        raise FeedError("the feed has no entries (hint: check that the URL is the right feed)")
    language = _language(data.get("language"))
    entries = newest(items, limit, _json_date, lambda item: _safe_json_item(item, url, language))
    if not entries:
        raise FeedError("no JSON Feed item is usable (hint: the site publishes a broken feed)")
    return _drop_shared_guids(entries, [str(i.get("id") or "") or None for i in items]), len(items)


def _safe_json_item(item: dict, base: str, language: str | None) -> FeedEntry | None:
    try:
        return _json_item(item, base, language)
    except (ValueError, TypeError, AttributeError) as exc:
        logger.info("%s: skipping a malformed JSON Feed item: %s", base, exc)
        return None


def _json_date(item: dict) -> str | None:
    for name in ("date_published", "date_modified"):
        try:
            found = parse_date(item[name]) if item.get(name) else None
        except (ValueError, TypeError, AttributeError):
            found = None  # _safe_json_item will say why it skips the item
        if found:
            return format_utc(found)
    return None


def _json_item(item: dict, base: str, language: str | None) -> FeedEntry:
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    published = parse_date(item["date_published"]) if item.get("date_published") else None
    updated = parse_date(item["date_modified"]) if item.get("date_modified") else None
    return FeedEntry(
        url=urljoin(base, item.get("url") or item["id"]),
        guid=str(item.get("id") or "") or None,
        title=item.get("title"),
        summary=clean_summary(item.get("summary")),
        content=strip_feed_footer(item.get("content_text") or html_to_text(item.get("content_html"))) or None,
        author=", ".join(a.get("name", "") for a in authors if isinstance(a, dict)) or None,
        published_at=format_utc(published) if published else None,
        updated_at=format_utc(updated) if updated else None,
        language=language,
    )
