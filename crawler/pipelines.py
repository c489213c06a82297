"""Item pipeline: a thin adapter that stores each article through the archive."""

from __future__ import annotations

import logging
import sqlite3

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from alerts.matcher import Matcher
from crawler.archive.articles import Archive
from crawler.articles import build_record
from crawler.exceptions import StorageError
from crawler.items import ArticleItem
from crawler.runs import SourceRun
from crawler.writer import BatchWriter

logger = logging.getLogger(__name__)


class ArchivePipeline:
    """Store articles once: new ones are inserted, changed ones updated, known ones dropped."""

    def __init__(
        self, writer: BatchWriter, runs: dict[str, SourceRun], stats: object | None = None, path: str = ""
    ) -> None:
        self.writer = writer
        self.runs = runs
        self.stats = stats
        self.path = path

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        spider = crawler.spider
        path, settings = spider.archive.path, spider.config.settings
        writer = BatchWriter(
            lambda: Archive.open(
                path, story_similarity=settings.story_similarity, story_window_days=settings.story_window_days
            ),
            matcher=Matcher(spider.config.topics.enabled()),
            watchers=spider.config.watchers,
        )
        return cls(writer, spider.runs, crawler.stats, str(path))

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        adapter = ItemAdapter(item)
        if not (adapter.get("title") or adapter.get("body")):
            raise DropItem(f"{item.url}: no title and no text could be extracted")
        try:
            result = await self.writer.store(build_record(item))
        except sqlite3.Error as exc:
            raise StorageError(
                f"{self.path}: cannot store {item.url}: {exc} "
                "(hint: check free disk space and file permissions)"
            ) from exc
        run = self.runs.get(item.source)
        if run is not None:
            setattr(run, result.outcome, getattr(run, result.outcome) + 1)
        if self.stats is not None:
            self.stats.inc_value(f"veille/articles/{result.outcome}")
        if result.outcome == "duplicate":
            raise DropItem(f"{item.url}: already archived as article {result.article_id}", log_level="DEBUG")
        logger.debug("%s article %s: %s", result.outcome, result.article_id, item.url)
        return item

    async def close_spider(self) -> None:
        """Write the last batch and close the writer's connection."""
        await self.writer.close()
