"""The baseline for bench/crawl.py: a bare Scrapy spider that only fetches the same pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import scrapy
from scrapy.crawler import AsyncCrawlerProcess

from crawler.config import Config
from crawler.runner import build_scrapy_settings

LOC = re.compile(rb"<loc>([^<]+)</loc>")


class BareSpider(scrapy.Spider):
    """Fetch the sitemap index, its sitemaps and every article page; keep nothing."""

    name = "bare"

    def __init__(self, start_url: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.start_url = start_url
        self.pages = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.start_url, callback=self.parse_sitemap)

    def parse_sitemap(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
        for url in LOC.findall(response.body):
            target = url.decode()
            callback = self.parse_sitemap if target.endswith(".xml") else self.parse_page
            yield scrapy.Request(target, callback=callback)

    def parse_page(self, response: scrapy.http.Response) -> None:
        self.pages += 1


def crawl_bare(config: Config) -> int:
    """Run the bare spider on the config's first sitemap with the same Scrapy settings; pages fetched."""
    return run_sitemap_spider(config, BareSpider)


def run_sitemap_spider(config: Config, spider: type[BareSpider], **kwargs: object) -> int:
    """Run a spider of this kind on the config's first sitemap with the project's Scrapy settings and
    no item pipeline; its page count."""
    settings = build_scrapy_settings(config, log_level="ERROR")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(spider)
    process.crawl(crawler, start_url=config.sources[0].routes[0].url, **kwargs)
    process.start()
    return crawler.spider.pages
