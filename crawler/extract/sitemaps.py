"""Google-News sitemaps and sitemap indexes (plain or gzipped), parsed with namespaced XPath."""

from __future__ import annotations

import gzip
import io
import logging
import zlib
from dataclasses import dataclass
from functools import partial
from urllib.parse import urljoin

from lxml import etree

from crawler.exceptions import FeedError
from crawler.extract.dates import format_utc, parse_date
from crawler.extract.feeds import FeedEntry, newest
from crawler.extract.xmlguard import check_xml_safety, looks_like_html

logger = logging.getLogger(__name__)
NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}
_parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


@dataclass(frozen=True)
class Sitemap:
    """A parsed sitemap: article entries (urlset) or child sitemaps (sitemapindex)."""

    entries: tuple[FeedEntry, ...] = ()
    children: tuple[FeedEntry, ...] = ()
    listed: int = 0  # the <url> elements of the document (there may be fewer entries: see limit)


def gunzip_limited(body: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip body, refusing to inflate past max_bytes (a gzip bomb)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise FeedError(f"broken gzip sitemap: {exc} (hint: the file is truncated or not gzip)") from exc
    if len(data) > max_bytes:
        raise FeedError(f"gzip sitemap inflates past {max_bytes} bytes (hint: raise max_response_bytes)")
    return data


def parse_sitemap(body: bytes, url: str, max_bytes: int = 50_000_000, limit: int | None = None) -> Sitemap:
    """Entries and child sitemaps of a (news) sitemap; FeedError when it is not one. With a limit,
    only the newest `limit` article entries, newest first."""
    if body[:2] == b"\x1f\x8b":
        body = gunzip_limited(body, max_bytes)
    check_xml_safety(body)
    if looks_like_html(body):
        raise FeedError("not a sitemap: the server sent an HTML page (hint: the URL may have moved)")
    try:
        root = etree.fromstring(body, _parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"malformed XML: {exc} (hint: the site publishes a broken sitemap)") from exc
    if root is None:
        raise FeedError("malformed XML: no document element (hint: the body is empty or garbage)")
    tag, convert = etree.QName(root).localname, partial(_safe_entry, base=url)
    if tag == "sitemapindex":
        return Sitemap(children=tuple(newest(_SITEMAPS(root), None, _node_date, convert)))
    if tag != "urlset":
        raise FeedError(f"not a sitemap: root element <{tag}> (hint: expected <urlset> or <sitemapindex>)")
    urls = _URLS(root)
    return Sitemap(entries=tuple(newest(urls, limit, _node_date, convert)), listed=len(urls))


# Compiled once: an XPath given as a string is compiled again at every call (half the time of a
# 20,000-URL sitemap went there).
_SITEMAPS = etree.XPath("//sm:sitemap[sm:loc]", namespaces=NS)
_URLS = etree.XPath("//sm:url[sm:loc]", namespaces=NS)
_TEXT = {
    path: etree.XPath(f"string({path})", namespaces=NS)
    for path in (
        "sm:loc",
        "sm:lastmod",
        "news:news/news:title",
        "news:news/news:publication_date",
        "news:news/news:publication/news:language",
    )
}


def _text(node: etree._Element, path: str) -> str | None:
    return _TEXT[path](node).strip() or None


def _safe_entry(node: etree._Element, base: str) -> FeedEntry | None:
    # One broken <url> (an invalid address, a bad date) must not cost the whole sitemap.
    try:
        return _entry(node, base)
    except ValueError as exc:
        logger.info("%s: skipping a malformed sitemap entry: %s", base, exc)
        return None


def _entry(node: etree._Element, base: str) -> FeedEntry:
    return FeedEntry(
        url=urljoin(base, _text(node, "sm:loc") or ""),
        title=_text(node, "news:news/news:title"),
        published_at=_date(_text(node, "news:news/news:publication_date")),
        updated_at=_date(_text(node, "sm:lastmod")),
        language=(_text(node, "news:news/news:publication/news:language") or "").split("-")[0] or None,
    )


def _node_date(node: etree._Element) -> str | None:
    """What the entry's published_at, else its updated_at, will be."""
    try:
        return _date(_text(node, "news:news/news:publication_date")) or _date(_text(node, "sm:lastmod"))
    except ValueError:
        return None


def _date(raw: str | None) -> str | None:
    found = parse_date(raw) if raw else None
    return format_utc(found) if found else None
