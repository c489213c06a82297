"""What a route's response says: article entries, child sitemaps, the next listing page (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urljoin

from parsel import Selector

from crawler.config import Route
from crawler.exceptions import FeedError
from crawler.extract.feeds import FeedEntry, read_feed
from crawler.extract.selectors import select_links
from crawler.extract.sitemaps import parse_sitemap


@dataclass(frozen=True)
class Discovery:
    """Entries found on one route page, plus where to go next."""

    entries: tuple[FeedEntry, ...] = ()
    children: tuple[FeedEntry, ...] = ()
    next_page: str | None = None
    listed: int = 0  # the items the page lists: more than the entries when a limit cut them


def discover(
    route: Route,
    body: bytes,
    url: str,
    headers: dict[str, str],
    text: str | None = None,
    max_bytes: int = 50_000_000,
    limit: int | None = None,
) -> Discovery:
    """Parse a feed, sitemap or listing response into a Discovery; FeedError when unusable. With a
    limit, a feed or sitemap gives only its newest `limit` entries (a listing page all its links)."""
    if route.kind == "feed":
        entries, listed = read_feed(body, url, headers, limit)
        return Discovery(entries=tuple(entries), listed=listed)
    if route.kind == "sitemap":
        sitemap = parse_sitemap(body, url, max_bytes, limit)
        if not sitemap.entries and not sitemap.children:
            raise FeedError("the sitemap lists no URL (hint: check that it is a news sitemap)")
        return Discovery(entries=sitemap.entries, children=sitemap.children, listed=sitemap.listed)
    found = parse_listing(text if text is not None else body.decode("utf-8", "replace"), url, route)
    return replace(found, listed=len(found.entries))


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


def worker_note(
    source: str, route: Route, url: str, size: int, found: Discovery, limit: int, seconds: float
) -> str:
    """What the log says of a big feed or sitemap read in a worker."""
    note = f"{source}: the {route.kind} {url} lists {found.listed} items ({size / 1e6:.1f} MB), "
    note += f"read in a worker in {seconds:.1f} s"
    if found.listed > limit:
        note += (
            f"; only the newest {limit} are considered (hint: a list this long costs a worker that "
            "much at every poll: ask the site for a shorter one, or use its news sitemap)"
        )
    return note
