"""Batched archive writes on one dedicated thread, so storage neither blocks nor slows the crawl.

SQLite releases the GIL while it works, so the writer thread runs beside the reactor; one
transaction per batch writes each touched index page once instead of once per article.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from crawler.archive.articles import AfterStore, Archive, StoredArticle, StoreResult

logger = logging.getLogger(__name__)


class BatchWriter:
    """Queue records; store them in batches of up to `max_batch`, at most `max_delay` seconds late."""

    def __init__(
        self,
        open_archive: Callable[[], Archive],
        max_batch: int = 64,
        max_delay: float = 0.1,
        after_store: AfterStore | None = None,
    ) -> None:
        self.open_archive = open_archive
        self.after_store = after_store  # the matching: matches and deliveries, in the same transaction
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.pending: list[tuple[StoredArticle, asyncio.Future[StoreResult]]] = []
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="veille-writer")
        self.archive: Archive | None = None  # opened, used and closed on the writer thread only
        self.lock = asyncio.Lock()
        self.timer: asyncio.TimerHandle | None = None

    async def store(self, record: StoredArticle) -> StoreResult:
        """Store one record (in the next batch) and return what storing it did."""
        future: asyncio.Future[StoreResult] = asyncio.get_running_loop().create_future()
        self.pending.append((record, future))
        if len(self.pending) >= self.max_batch:
            await self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(
                self.max_delay, lambda: asyncio.ensure_future(self.flush())
            )
        return await future

    async def flush(self) -> None:
        """Write everything queued so far in one transaction."""
        async with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            batch, self.pending = self.pending, []
            if not batch:
                return
            loop = asyncio.get_running_loop()
            records = [r for r, _ in batch]
            try:
                results = await loop.run_in_executor(self.thread, self._write, records)
            except sqlite3.OperationalError as exc:  # disk full, locked for 30 s: alone, each would too
                results = [exc] * len(batch)
            except Exception:  # anything else: one article may have caused it, so try each alone
                logger.warning("a batch of %d articles failed; storing them one by one", len(batch))
                results = await loop.run_in_executor(self.thread, self._write_each, records)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _write(self, records: list[StoredArticle]) -> list[StoreResult | Exception]:
        if self.archive is None:
            self.archive = self.open_archive()
        return self.archive.store_many(records, self.after_store)

    def _write_each(self, records: list[StoredArticle]) -> list[StoreResult | Exception]:
        results: list[StoreResult | Exception] = []
        for record in records:
            try:
                results.extend(self._write([record]))
            except Exception as exc:
                results.append(exc)
        return results

    async def close(self) -> None:
        """Write what is left, then close the archive and stop the thread."""
        await self.flush()
        await asyncio.get_running_loop().run_in_executor(self.thread, self._close_archive)
        self.thread.shutdown(wait=True)

    def _close_archive(self) -> None:
        if self.archive is not None:
            self.archive.close()
            self.archive = None
