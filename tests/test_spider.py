"""Spider callbacks called directly on built responses (no network): routes, fallbacks, loops."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response, XmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawler.archive.articles import Archive
from crawler.config import load_config
from crawler.workers import AnalysisPool
from spiders.sources import SourcesSpider

SOURCES = """sources:
  - name: site
    languages: [fr]
    sitemaps: ["https://site.ma/index.xml"]
    fallbacks:
      - feed: "https://site.ma/feed"
"""
INDEX = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://site.ma/index.xml</loc></sitemap><sitemap><loc>https://site.ma/s1.xml</loc></sitemap>
</sitemapindex>"""


@pytest.fixture
def spider(tmp_path: Path) -> SourcesSpider:
    (tmp_path / "sources.yaml").write_text(SOURCES)
    config = load_config(tmp_path)
    archive = Archive.open(tmp_path / "x.db")
    crawler = get_crawler(SourcesSpider, {"VEILLE_RETRY_AFTER_MAX": 5, "DOWNLOAD_TIMEOUT": 3})
    spider = SourcesSpider.from_crawler(crawler, config=config, archive=archive, pool=AnalysisPool(0))
    crawler.spider = spider
    asyncio.run(_drain(spider.start()))
    yield spider
    archive.close()


async def _drain(agen) -> list:
    return [x async for x in agen]


def route_response(
    spider: SourcesSpider,
    url: str,
    body: bytes,
    status: int = 200,
    fetch_url: str | None = None,
    depth: int = 0,
    cls: type = XmlResponse,
) -> Response:
    state = spider.states["site"]
    route = state.source.routes[0]
    request = Request(
        fetch_url or url,
        meta={
            "source": "site",
            "route": route,
            "page": 1,
            "depth": depth,
            "primary": True,
            "fetch_url": fetch_url or url,
        },
    )
    return cls(
        url=url,
        body=body,
        status=status,
        request=request,
        headers={"ETag": '"v1"', "Content-Type": "application/xml"},
    )


def test_a_sitemap_index_listing_itself_is_not_followed_again(spider: SourcesSpider) -> None:
    out = list(spider.parse_route(route_response(spider, "https://site.ma/index.xml", INDEX)))
    assert [r.url for r in out] == ["https://site.ma/s1.xml"]
    child = route_response(spider, "https://site.ma/s1.xml", INDEX, depth=1)
    assert list(spider.parse_route(child)) == []  # depth 1: no grandchildren, and no loop


def test_validators_are_kept_under_the_url_asked_for(spider: SourcesSpider) -> None:
    redirected = route_response(
        spider, "https://site.ma/index.xml/", INDEX, fetch_url="https://site.ma/index.xml"
    )
    list(spider.parse_route(redirected))
    assert spider.archive.validators("https://site.ma/index.xml") == (None, None)  # articles not stored yet
    spider._source_done("site")
    assert spider.archive.validators("https://site.ma/index.xml") == ('"v1"', None)


def test_validators_are_not_saved_when_the_crawl_was_cut_or_an_article_failed(spider: SourcesSpider) -> None:
    # A 304 next time would hide the articles this crawl never stored: the route must be read again.
    list(spider.parse_route(route_response(spider, "https://site.ma/index.xml", INDEX)))
    spider.closed("shutdown")
    assert spider.archive.validators("https://site.ma/index.xml") == (None, None)
    assert "crawl interrupted (shutdown)" in spider.runs["site"].messages


def test_validators_wait_for_failed_article_pages(spider: SourcesSpider) -> None:
    list(spider.parse_route(route_response(spider, "https://site.ma/index.xml", INDEX)))
    spider.runs["site"].pages_failed = 1
    spider._source_done("site")
    assert spider.archive.validators("https://site.ma/index.xml") == (None, None)


def test_an_unexpected_parser_error_fails_the_route_and_starts_the_fallback(
    spider: SourcesSpider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("spiders.sources.discover", lambda *a, **k: 1 / 0)
    out = list(spider.parse_route(route_response(spider, "https://site.ma/index.xml", INDEX)))
    assert [r.url for r in out] == ["https://site.ma/feed"]
    assert "could not read the sitemap: ZeroDivisionError" in spider.runs["site"].messages[0]


def failure_for(spider: SourcesSpider, status: int, retry_after: float | None) -> Failure:
    response = route_response(spider, "https://site.ma/index.xml", b"", status=status)
    if retry_after is not None:
        response.meta["retry_after"] = retry_after
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = response.request
    return failure


def test_a_short_retry_after_is_waited_out_then_retried_once(spider: SourcesSpider) -> None:
    out = asyncio.run(_drain(spider.route_failed(failure_for(spider, 503, 0.01))))
    assert [(r.url, r.meta["retried_after"]) for r in out] == [("https://site.ma/index.xml", True)]
    assert spider.runs["site"].errors == 0


def test_a_retry_after_wait_ends_when_the_crawl_is_cut(spider: SourcesSpider) -> None:
    # A stopping daemon must not sit out a 2-minute Retry-After (systemd kills it after 60 s).
    async def wait_then_cut() -> list:
        asyncio.get_running_loop().call_later(0.05, spider.interrupt, "shutdown")
        return await _drain(spider.route_failed(failure_for(spider, 503, 4)))  # under the 5 s maximum

    started = time.monotonic()
    out = asyncio.run(wait_then_cut())
    assert time.monotonic() - started < 2 and out == []  # no retry, no fallback
    spider._source_done("site")
    run = spider.runs["site"]
    assert run.status == "interrupted" and run.messages[0] == "crawl interrupted (shutdown)"
    assert "HTTP 503 Service Unavailable" in run.messages[1]


def test_a_long_retry_after_leaves_the_route_alone_until_then(spider: SourcesSpider) -> None:
    out = asyncio.run(_drain(spider.route_failed(failure_for(spider, 429, 3600))))
    assert [r.url for r in out] == ["https://site.ma/feed"]  # the fallback
    assert "HTTP 429 Too Many Requests" in spider.runs["site"].messages[0]
    assert spider.archive.retry_after_until("https://site.ma/index.xml") > "2000"
    state = spider.states["site"]
    skipped = list(spider._open_route(state, state.source.routes[0]))
    assert "skipped: the server asked us to wait until" in spider.runs["site"].messages[-1]
    assert skipped == []  # the only fallback is already used


def test_a_canonical_pointing_at_the_home_page_is_not_trusted(spider: SourcesSpider) -> None:
    page = (
        '<html><head><link rel="canonical" href="https://site.ma/"><title>T</title></head>'
        "<body><h1>Un titre</h1><p>" + "Un long paragraphe de texte. " * 20 + "</p></body></html>"
    )
    entry = __import__("crawler.extract.feeds", fromlist=["FeedEntry"]).FeedEntry(url="https://site.ma/a-1")
    slot = spider.states["site"].merge(["url:site.ma/a-1"], entry)
    request = Request(
        "https://site.ma/a-1",
        meta={"source": "site", "slot": slot, "route": spider.states["site"].source.routes[0]},
    )
    response = HtmlResponse("https://site.ma/a-1", body=page.encode(), encoding="utf-8", request=request)
    [item] = asyncio.run(_drain(spider.parse_article(response)))
    assert item.url == "https://site.ma/a-1" and item.title == "Un titre"


def test_a_source_whose_pages_all_fail_has_failed(spider: SourcesSpider) -> None:
    run = spider.runs["site"]
    run.routes_ok, run.pages_failed = 1, 3
    assert run.status == "failed"
    run.pages_ok = 1
    assert run.status == "partial"


def test_one_dead_article_link_is_not_a_failed_source(spider: SourcesSpider) -> None:
    # The feed worked and its other items were known: one 404 is that article's problem, and must not
    # count towards "source is down".
    run = spider.runs["site"]
    run.routes_ok, run.duplicate = 1, 5
    spider._page_failed(spider.states["site"], "article https://site.ma/gone: HTTP 404 Not Found")
    assert (run.status, run.succeeded) == ("partial", True)
    # The same for a link robots.txt forbids, or an off-site one: it fails again at every crawl.
    spider._page_failed(spider.states["site"], "article https://other.ma/a: forbidden by robots.txt")
    assert run.status == "partial"
    spider._page_failed(spider.states["site"], "article https://site.ma/b: HTTP 403 Forbidden")
    assert run.status == "failed"  # three new pages, none working: the site is refusing us


def test_validators_wait_for_a_failed_child_sitemap(spider: SourcesSpider) -> None:
    list(spider.parse_route(route_response(spider, "https://site.ma/index.xml", INDEX)))
    spider.runs["site"].fail("sitemap https://site.ma/s1.xml: HTTP 500")  # a child, not a primary route
    spider._source_done("site")
    assert spider.archive.validators("https://site.ma/index.xml") == (None, None)


def test_a_host_that_failed_this_crawl_is_not_waited_for_again(spider: SourcesSpider) -> None:
    # Without a network, every source's fallback on one news host queued behind its download delay,
    # only to fail the same way: 90 s for the shipped config instead of 34.
    from scrapy.exceptions import IgnoreRequest

    from crawler.failures import describe_failure
    from crawler.middlewares import DeadHostMiddleware

    middleware = DeadHostMiddleware.from_crawler(spider.crawler)
    assert middleware.process_request(Request("https://news.google.com/rss?q=a")) is None
    spider.dead_hosts["news.google.com:443"] = "DNS lookup failed (hint: no network on this machine)"
    with pytest.raises(IgnoreRequest) as caught:
        middleware.process_request(Request("https://news.google.com/rss?q=b"))
    assert describe_failure(caught.value) == (
        "skipped, its host failed earlier in this crawl: DNS lookup failed (hint: no network on this machine)"
    )


def test_a_lastmod_counts_for_an_article_first_seen_without_a_date(spider: SourcesSpider) -> None:
    # Found first in a feed without dates: a sitemap's later <lastmod> must still bring the edit in.
    from crawler.extract.feeds import FeedEntry
    from crawler.extract.urls import identity_keys
    from crawler.items import ArticleItem
    from crawler.pipelines import build_record

    url = "https://site.ma/2025/10/article-1/"
    spider.archive.store(build_record(ArticleItem(source="site", url=url, title="t", body="b " * 200)))
    first_seen = spider.archive.lookup(identity_keys(url))["first_seen"]
    keys = identity_keys(url)
    assert not spider._needs_fetch(keys, FeedEntry(url=url))
    assert not spider._needs_fetch(keys, FeedEntry(url=url, updated_at="2025-01-01T00:00:00Z"))
    assert first_seen < "2999" and spider._needs_fetch(
        keys, FeedEntry(url=url, updated_at="2999-01-01T00:00:00Z")
    )


def test_what_a_second_route_says_of_an_article_reaches_its_item(spider: SourcesSpider) -> None:
    # An audit's articles, listed by the sitemap and the feed, lost the feed's summary and GUID when
    # the sitemap's copy was the one fetched.
    from crawler.extract.feeds import FeedEntry

    state = spider.states["site"]
    url = "https://site.ma/2025/10/cloud/"
    sitemap = FeedEntry(url=url, title="Cloud souverain", published_at="2025-10-02T10:00:00Z")
    feed = FeedEntry(
        url=url, guid="https://site.ma/?p=5001", summary="Deux data centers d'ici 2027.", title="Autre titre"
    )
    slot = state.merge(["url:site.ma/2025/10/cloud"], sitemap)
    assert state.merge(["url:site.ma/2025/10/cloud", "guid:site.ma/?p=5001"], feed) == slot
    merged = state.entries[slot]
    assert (merged.title, merged.guid, merged.summary) == (
        "Cloud souverain",
        "https://site.ma/?p=5001",
        "Deux data centers d'ici 2027.",
    )
    assert merged.published_at == "2025-10-02T10:00:00Z"  # the first route's fields stay
    other = FeedEntry(url="https://site.ma/2025/10/autre/", guid="https://site.ma/?p=5001", author="X")
    assert state.merge(["url:site.ma/2025/10/autre", "guid:site.ma/?p=5001"], other) != slot  # a shared
    assert state.entries[slot].author is None  # GUID does not make two URLs one article's hints


def test_a_later_routes_lastmod_is_still_read_for_an_article_seen_earlier(spider: SourcesSpider) -> None:
    # The feed (no dates) lists a stored article first; the sitemap then says it changed since.
    from crawler.extract.feeds import FeedEntry
    from crawler.items import ArticleItem
    from crawler.pipelines import build_record

    url = "https://site.ma/2025/10/article-2/"
    spider.archive.store(build_record(ArticleItem(source="site", url=url, title="t", body="b " * 200)))
    state = spider.states["site"]
    route = state.source.routes[0]
    assert list(spider._article_requests(state, route, (FeedEntry(url=url),))) == []
    later = FeedEntry(url=url, updated_at="2999-01-01T00:00:00Z")
    assert [r.url for r in spider._article_requests(state, route, (later,))] == [url]
    assert list(spider._article_requests(state, route, (later,))) == []  # requested once


def test_a_failed_article_page_waits_before_it_is_tried_again(spider: SourcesSpider) -> None:
    # A deleted article (or one robots.txt forbids) was requested at every poll, and its error kept
    # the feed from ever being saved for a 304.
    from datetime import UTC, datetime, timedelta

    from crawler.extract.feeds import FeedEntry

    state, route = spider.states["site"], spider.states["site"].source.routes[0]
    url = "https://site.ma/2025/10/gone/"
    [request] = spider._article_requests(state, route, (FeedEntry(url=url),))
    spider._page_failed(state, f"article {url}: HTTP 404 Not Found", request.meta)
    keys = request.meta["keys"]
    first = spider.archive.page_retry_at(keys)
    assert first and first > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    spider.states["site"].fetching.clear()
    spider.states["site"].seen_keys.clear()  # as in the next crawl
    assert list(spider._article_requests(state, route, (FeedEntry(url=url),))) == []
    assert state.run.pages_waiting == 1
    later = datetime.now(UTC) + timedelta(hours=2)
    second = spider.archive.record_page_failure(keys[0], url, "site", "HTTP 404", now=later)
    assert second == (later + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ")  # 1 h, then 4 h
    spider.archive.forget_page_failures(keys)
    assert spider.archive.page_retry_at(keys) is None


def test_a_page_cut_by_a_stop_is_not_remembered_as_failed(spider: SourcesSpider) -> None:
    from crawler.extract.feeds import FeedEntry

    state, route = spider.states["site"], spider.states["site"].source.routes[0]
    [request] = spider._article_requests(state, route, (FeedEntry(url="https://site.ma/2025/10/cut/"),))
    spider.interrupt("shutdown")
    spider._page_failed(state, "article https://site.ma/2025/10/cut/: download cut", request.meta)
    assert spider.archive.page_retry_at(request.meta["keys"]) is None
