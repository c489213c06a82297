"""Item pipeline: a thin adapter that turns each article item into an archive record and stores it."""

from __future__ import annotations

import logging
import sqlite3

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from alerts.matcher import Matcher
from alerts.outbox import matching
from crawler.archive.articles import Archive, StoredArticle
from crawler.exceptions import StorageError
from crawler.extract.cleaning import safe_text
from crawler.extract.digest import digest_text
from crawler.extract.urls import clean_url, identity_keys
from crawler.items import ArticleItem
from crawler.runs import SourceRun
from crawler.writer import BatchWriter

logger = logging.getLogger(__name__)

ARTICLE_FIELDS = (
    "source",
    "url",
    "title",
    "summary",
    "body",
    "author",
    "language",
    "published_at",
    "source_updated",
    "guid",
    "via",
)
TEXT_FIELDS = ("url", "title", "summary", "body", "author", "guid")


def build_record(item: ArticleItem) -> StoredArticle:
    """The archive record of an article item, keyed by every URL, GUID and post id it carries."""
    fields = {name: getattr(item, name) for name in ARTICLE_FIELDS}
    # The extraction boundary: whatever a page or feed carried, no stored text holds a control
    # character, a lone surrogate or a bidi override (the worker's digest is then of other text).
    cleaned = {name: safe_text(fields[name]) for name in TEXT_FIELDS if fields[name]}
    unsafe = {name: text for name, text in cleaned.items() if text != fields[name]}
    fields.update(unsafe)
    fields["url"] = clean_url(unsafe.get("url", item.url))
    keys = identity_keys(unsafe.get("url", item.url), item.fetched_url, item.link, guid=fields["guid"])
    digest = (None if unsafe else item.digest) or digest_text(
        fields["title"], fields["summary"], fields["body"]
    )
    return StoredArticle(
        keys=tuple(keys),
        fields=fields,
        content_hash=digest.content_hash,
        minhash=digest.fingerprint,
        texts=digest.texts,
    )


class ArchivePipeline:
    """Store articles once: new ones are inserted, changed ones updated, known ones dropped."""

    def __init__(
        self,
        writer: BatchWriter,
        runs: dict[str, SourceRun],
        stats: object | None = None,
        path: str = "",
        failures: Archive | None = None,
    ) -> None:
        self.writer = writer
        self.runs = runs
        self.stats = stats
        self.path = path
        self.failures = failures  # where an article that cannot be stored is backed off

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        spider = crawler.spider
        path, settings = spider.archive.path, spider.config.settings
        writer = BatchWriter(
            lambda: Archive.open(
                path, story_similarity=settings.story_similarity, story_window_days=settings.story_window_days
            ),
            after_store=matching(Matcher(spider.config.topics.enabled()), spider.config.watchers),
        )
        return cls(writer, spider.runs, crawler.stats, str(path), spider.archive)

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        adapter = ItemAdapter(item)
        if not (adapter.get("title") or adapter.get("body")):
            raise DropItem(f"{item.url}: no title and no text could be extracted")
        try:
            result = await self.writer.store(build_record(item))
        except sqlite3.Error as exc:  # the archive's fault, not the page's: crawled again next time
            raise StorageError(
                f"{self.path}: cannot store {item.url}: {exc} "
                "(hint: check free disk space and file permissions)"
            ) from exc
        except Exception as exc:  # this article's own fault: backed off like a page that failed
            self._back_off(item, exc)
            raise
        run = self.runs.get(item.source)
        if run is not None:
            setattr(run, result.outcome, getattr(run, result.outcome) + 1)
        if self.stats is not None:
            self.stats.inc_value(f"veille/articles/{result.outcome}")
        if result.outcome == "duplicate":
            raise DropItem(f"{item.url}: already archived as article {result.article_id}", log_level="DEBUG")
        logger.debug("%s article %s: %s", result.outcome, result.article_id, item.url)
        return item

    def _back_off(self, item: ArticleItem, exc: Exception) -> None:
        keys = identity_keys(item.link or item.url, guid=item.guid)
        if self.failures is not None and keys:
            error = f"article {item.url}: not stored: {type(exc).__name__}: {str(exc)[:200]}"
            self.failures.record_page_failure(keys[0], item.link or item.url, item.source, error)

    async def close_spider(self) -> None:
        """Write the last batch and close the writer's connection."""
        await self.writer.close()
