"""What a route's response says: article entries, child sitemaps, the next listing page (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from parsel import Selector

from crawler.config import Route
from crawler.exceptions import FeedError
from crawler.extract.feeds import FeedEntry, parse_feed
from crawler.extract.selectors import select_links
from crawler.extract.sitemaps import parse_sitemap


@dataclass(frozen=True)
class Discovery:
    """Entries found on one route page, plus where to go next."""

    entries: tuple[FeedEntry, ...] = ()
    children: tuple[FeedEntry, ...] = ()
    next_page: str | None = None


def discover(
    route: Route,
    body: bytes,
    url: str,
    headers: dict[str, str],
    text: str | None = None,
    max_bytes: int = 50_000_000,
) -> Discovery:
    """Parse a feed, sitemap or listing response into a Discovery; FeedError when unusable."""
    if route.kind == "feed":
        return Discovery(entries=tuple(parse_feed(body, url, headers)))
    if route.kind == "sitemap":
        sitemap = parse_sitemap(body, url, max_bytes)
        if not sitemap.entries and not sitemap.children:
            raise FeedError("the sitemap lists no URL (hint: check that it is a news sitemap)")
        return Discovery(entries=sitemap.entries, children=sitemap.children)
    return parse_listing(text if text is not None else body.decode("utf-8", "replace"), url, route)


def parse_listing(html: str, url: str, route: Route) -> Discovery:
    """Article links of a listing page (by the route's selector) and its next page."""
    doc = Selector(text=html)
    links = list(dict.fromkeys(urljoin(url, href.strip()) for href in select_links(doc, route.links or "a")))
    links = [link for link in links if link.startswith(("http://", "https://"))]
    if not links:
        raise FeedError(
            f"the selector {route.links!r} found no article link "
            "(hint: the site's layout may have changed; update 'links')"
        )
    next_page = None
    if route.next:
        found = select_links(doc, route.next)
        next_page = urljoin(url, found[0].strip()) if found else None
    return Discovery(entries=tuple(FeedEntry(url=link) for link in links), next_page=next_page)


def newest_first(entries: tuple[FeedEntry, ...], limit: int) -> list[FeedEntry]:
    """Entries by date, newest first (undated keep their order, after dated ones), at most `limit`."""
    dated = sorted(
        (e for e in entries if e.published_at or e.updated_at),
        key=lambda e: e.published_at or e.updated_at or "",
        reverse=True,
    )
    undated = [e for e in entries if not (e.published_at or e.updated_at)]
    return (dated + undated)[:limit]
