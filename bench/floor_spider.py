"""A lower bound for bench/crawl.py: the least a crawler that keeps searchable full text must do.

A Scrapy spider hands each page to worker processes (as many as Veille's extract_workers), which
extract the text with trafilatura (fast mode, Veille's prebuilt options) and insert title and text
into SQLite with an FTS5 index, committing every 64 pages; one database per worker, so no lock is
shared. No metadata, dates, language, URL keys, dedupe, normalisation, fingerprint or story: only
what no archive of searchable full text can skip.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from copy import copy

import scrapy
import trafilatura
from scrapy.crawler import AsyncCrawlerProcess

from crawler.config import Config
from crawler.extract import TRAFILATURA
from crawler.runner import build_scrapy_settings

LOC = re.compile(rb"<loc>([^<]+)</loc>")
_db: sqlite3.Connection | None = None
_pending = 0


def extract_and_store(path: str, html: str, url: str) -> int:
    """Extract one page and insert it (runs in the worker); the length of the text stored."""
    global _db, _pending
    if _db is None:  # one database per worker: no lock to share
        _db = sqlite3.connect(f"{path}.{os.getpid()}", isolation_level=None)
        _db.execute("PRAGMA journal_mode=WAL")
        _db.execute("CREATE TABLE IF NOT EXISTS pages (id INTEGER PRIMARY KEY, url TEXT UNIQUE, "
                    "title TEXT, body TEXT)")
        _db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(title, body, "
                    "tokenize = 'unicode61 remove_diacritics 2')")
    options = copy(TRAFILATURA)
    options.url = options.source = url
    text = trafilatura.extract(html, options=options) or ""
    title = text.split("\n", 1)[0]
    if _pending == 0:
        _db.execute("BEGIN")
    row = _db.execute("INSERT INTO pages (url, title, body) VALUES (?, ?, ?)", (url, title, text)).lastrowid
    _db.execute("INSERT INTO pages_fts (rowid, title, body) VALUES (?, ?, ?)", (row, title, text))
    _pending += 1
    if _pending >= 64:
        _db.execute("COMMIT")
        _pending = 0
    return len(text)


def finish() -> None:
    """Commit the last pages (runs in the worker)."""
    if _db is not None and _pending:
        _db.execute("COMMIT")


class FloorSpider(scrapy.Spider):
    """Fetch the sitemaps and every page; extract and store each page in the worker."""

    name = "floor"

    def __init__(self, start_url: str = "", db: str = "", workers: int = 1, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.start_url, self.db, self.workers = start_url, db, workers
        self.pages = 0
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield scrapy.Request(self.start_url, callback=self.parse_sitemap)

    def parse_sitemap(self, response: scrapy.http.Response) -> Iterator[scrapy.Request]:
        for url in LOC.findall(response.body):
            target = url.decode()
            callback = self.parse_sitemap if target.endswith(".xml") else self.parse_page
            yield scrapy.Request(target, callback=callback)

    async def parse_page(self, response: scrapy.http.Response) -> AsyncIterator[None]:
        future = self.pool.submit(extract_and_store, self.db, response.text, response.url)
        if await asyncio.wrap_future(future):
            self.pages += 1
        return
        yield  # an async generator, as Scrapy wants for an async callback

    def closed(self, reason: str) -> None:
        for done in [self.pool.submit(finish) for _ in range(self.workers)]:
            done.result()
        self.pool.shutdown()


def crawl_floor(config: Config, db: str, workers: int = 1) -> int:
    """Run the floor spider on the config's first sitemap with the same Scrapy settings; pages stored."""
    settings = build_scrapy_settings(config, log_level="ERROR")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(FloorSpider)
    process.crawl(crawler, start_url=config.sources[0].routes[0].url, db=db, workers=workers)
    process.start()
    return crawler.spider.pages
