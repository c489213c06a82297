"""Big feeds and sitemaps: only the newest entries are converted, exactly those the spider would have
kept from a full parse; parsed in a worker, a document's errors and log lines come back to the
crawler; a crawl being cut does not wait for a parse."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import XmlResponse
from scrapy.utils.test import get_crawler

from crawler.archive.articles import Archive
from crawler.config import load_config
from crawler.exceptions import FeedError
from crawler.extract.feeds import parse_feed, read_feed
from crawler.extract.sitemaps import parse_sitemap
from crawler.workers import AnalysisPool
from spiders.routes import newest_first
from spiders.sources import SourcesSpider

LIMIT = 40


def dates(rng: random.Random, count: int) -> list[str | None]:
    """Dates with ties (several items of one minute) and gaps (undated items)."""
    return [
        None if rng.random() < 0.15 else f"2026-11-{rng.randint(1, 28):02d}T10:{rng.randint(0, 5):02d}:00Z"
        for _ in range(count)
    ]


def rss(rng: random.Random, count: int) -> bytes:
    items = []
    for i, day in enumerate(dates(rng, count)):
        link = "" if rng.random() < 0.05 else f"<link>https://x.ma/a/{i}</link>"  # unusable: no link
        guid = f"<guid>{'shared' if rng.random() < 0.05 else f'g{i}'}</guid>"
        when = f"<pubDate>{'not a date' if rng.random() < 0.03 else day}</pubDate>" if day else ""
        items.append(f"<item><title>t{i}</title>{link}{guid}{when}</item>")
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{"".join(items)}</channel></rss>'.encode()


def json_feed(rng: random.Random, count: int) -> bytes:
    items = [
        {"id": "shared" if rng.random() < 0.05 else str(i), "url": f"https://x.ma/a/{i}", "title": f"t{i}"}
        | ({"date_modified": day} if day and i % 2 else {"date_published": day} if day else {})
        for i, day in enumerate(dates(rng, count))
    ]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items}).encode()


def sitemap(rng: random.Random, count: int) -> bytes:
    urls = "".join(
        f"<url><loc>https://x.ma/a/{i}</loc>{f'<lastmod>{day}</lastmod>' if day else ''}</url>"
        for i, day in enumerate(dates(rng, count))
    )
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


@pytest.mark.parametrize("seed", range(5))
def test_a_limited_parse_keeps_what_the_spider_kept_from_a_full_one(seed: int) -> None:
    rng = random.Random(seed)
    for body, parse in (
        (rss(rng, 400), lambda body, limit: parse_feed(body, "https://x.ma/feed", limit=limit)),
        (json_feed(rng, 400), lambda body, limit: parse_feed(body, "https://x.ma/feed.json", limit=limit)),
        (
            sitemap(rng, 400),
            lambda body, limit: list(parse_sitemap(body, "https://x.ma/s.xml", limit=limit).entries),
        ),
    ):
        full = parse(body, None)
        assert parse(body, LIMIT) == newest_first(tuple(full), LIMIT)
        assert parse(body, 10_000) == full


def test_the_document_says_how_many_items_it_lists() -> None:
    entries, listed = read_feed(rss(random.Random(1), 400), "https://x.ma/feed", limit=LIMIT)
    assert (len(entries), listed) == (LIMIT, 400)
    assert parse_sitemap(sitemap(random.Random(1), 400), "https://x.ma/s.xml", limit=LIMIT).listed == 400


def test_in_a_worker_a_documents_log_lines_and_errors_reach_the_crawler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    malformed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ['
        b'{"id": "1", "url": "https://x.ma/a"}, {"id": "2", "url": "https://x.ma/b", "title": {"x": 1}, "authors": 5}]}'
    )
    pool = AnalysisPool(1)
    try:
        with caplog.at_level(logging.INFO, logger="crawler"):
            entries = asyncio.run(pool.call("feed x", parse_feed, malformed, "https://x.ma/feed.json"))
        assert [e.url for e in entries] == ["https://x.ma/a"]
        assert "https://x.ma/feed.json: skipping a malformed JSON Feed item" in caplog.text
        with pytest.raises(FeedError, match=r"^the feed has no entries \(hint"):
            asyncio.run(
                pool.call(
                    "feed x", parse_feed, b'{"version": "https://jsonfeed.org/version/1", "items": []}', "u"
                )
            )
    finally:
        pool.close()


def die_once(marker: str) -> int:
    """Kill the worker the first time (a crash that another task caused), answer the second."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return os.getpid()


def test_a_pool_broken_under_a_parse_is_replaced_and_the_parse_made_again_there(tmp_path: Path) -> None:
    pool = AnalysisPool(1)
    try:
        assert asyncio.run(pool.call("feed x", die_once, str(tmp_path / "died"))) != os.getpid()
    finally:
        pool.close()


SOURCES = """sources:
  - name: site
    languages: [fr]
    sitemaps: ["https://site.ma/s.xml"]
"""


@pytest.fixture
def spider(tmp_path: Path) -> SourcesSpider:
    """A spider that parses every feed and sitemap in its one worker."""
    (tmp_path / "sources.yaml").write_text(SOURCES)
    archive = Archive.open(tmp_path / "x.db")
    crawler = get_crawler(
        SourcesSpider, {"VEILLE_WORKER_PARSE_BYTES": 1, "VEILLE_MAX_ARTICLES_PER_ROUTE": LIMIT}
    )
    pool = AnalysisPool(1)
    spider = SourcesSpider.from_crawler(crawler, config=load_config(tmp_path), archive=archive, pool=pool)
    crawler.spider = spider

    async def start() -> None:
        [_ async for _ in spider.start()]

    asyncio.run(start())
    yield spider
    pool.close()
    archive.close()


def sitemap_response(spider: SourcesSpider, body: bytes) -> XmlResponse:
    route = spider.states["site"].source.routes[0]
    meta = {"source": "site", "route": route, "page": 1, "depth": 0, "primary": True, "fetch_url": route.url}
    return XmlResponse(url=route.url, body=body, request=Request(route.url, meta=meta))


async def collect(output: object) -> list:
    return [x async for x in output]


def test_a_route_parsed_in_a_worker_gives_the_requests_of_one_parsed_here(spider: SourcesSpider) -> None:
    body = sitemap(random.Random(7), 400)
    expected = newest_first(parse_sitemap(body, "https://site.ma/s.xml").entries, LIMIT)
    requests = asyncio.run(collect(spider.parse_route(sitemap_response(spider, body))))
    assert [r.url for r in requests] == [e.url for e in expected]
    assert spider.runs["site"].routes_ok == 1 and spider.runs["site"].found == LIMIT


def test_a_cut_crawl_does_not_wait_for_a_parse_in_a_worker(spider: SourcesSpider) -> None:
    spider.interrupt("shutdown")
    requests = asyncio.run(
        collect(spider.parse_route(sitemap_response(spider, sitemap(random.Random(7), 400))))
    )
    assert requests == []
    run = spider.runs["site"]
    assert run.status == "interrupted" and run.messages == [
        "crawl interrupted (shutdown)",
        "sitemap https://site.ma/s.xml: not read: the crawl was cut (shutdown)",
    ]
