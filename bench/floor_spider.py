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
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from copy import copy

import scrapy
import trafilatura

from bench.bare_spider import BareSpider, run_sitemap_spider
from crawler.config import Config
from crawler.extract.article import TRAFILATURA

_db: sqlite3.Connection | None = None
_pending = 0


def extract_and_store(path: str, html: str, url: str) -> int:
    """Extract one page and insert it (runs in the worker); the length of the text stored."""
    global _db, _pending
    if _db is None:  # one database per worker: no lock to share
        _db = sqlite3.connect(f"{path}.{os.getpid()}", isolation_level=None)
        _db.execute("PRAGMA journal_mode=WAL")
        _db.execute(
            "CREATE TABLE IF NOT EXISTS pages (id INTEGER PRIMARY KEY, url TEXT UNIQUE, "
            "title TEXT, body TEXT)"
        )
        _db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(title, body, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
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


class FloorSpider(BareSpider):
    """The bare spider, each page extracted and stored in the worker."""

    name = "floor"

    def __init__(self, start_url: str = "", db: str = "", workers: int = 1, **kwargs: object) -> None:
        super().__init__(start_url, **kwargs)
        self.db, self.workers = db, workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

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
    return run_sitemap_spider(config, FloorSpider, db=db, workers=workers)
