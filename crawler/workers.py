"""Work off the reactor, in worker processes: article analysis (extraction, normalisation, fingerprint)
and the parsing of big feeds and sitemaps."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from crawler.extract.article import Extracted, SiteRules, extract_article
from crawler.extract.digest import Digest, digest_text
from crawler.extract.feeds import FeedEntry
from crawler.lifeline import tied_context

logger = logging.getLogger(__name__)
PARENT_CHECK_SECONDS = 1.0
T = TypeVar("T")


@dataclass(frozen=True)
class Analysis:
    """What a worker returns for one article page."""

    page: Extracted
    digest: Digest


def analyse_page(
    html: str, url: str, rules: SiteRules, hints: FeedEntry | None, now: datetime | None = None
) -> Analysis:
    """Extract an article page, then normalise, hash and fingerprint its text (pure; runs in a
    worker process, so that none of this costs the reactor)."""
    page = extract_article(html, url, rules, hints, now)
    return Analysis(page, digest_text(page.title, page.summary, page.body))


@dataclass
class Logged(Generic[T]):
    """What a call in a worker returned or raised, and the records it logged (a worker's logging is
    not configured: the parent logs them)."""

    value: T | None
    error: Exception | None
    records: list[logging.LogRecord]

    def result(self) -> T:
        """Log the records here, then return the value or raise the error."""
        for record in self.records:
            if (target := logging.getLogger(record.name)).isEnabledFor(record.levelno):
                target.handle(record)
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Only text crosses to the parent: the arguments and the traceback may not pickle.
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args, record.exc_info = record.getMessage(), None, None
        self.records.append(record)


def run_logged(func: Callable[..., T], *args: Any) -> Logged[T]:
    """func(*args) with the INFO and higher records of Veille's loggers (runs in a worker)."""
    handler, veille = _Records(), logging.getLogger("crawler")
    level = veille.level
    veille.addHandler(handler)
    veille.setLevel(logging.INFO)
    try:
        return Logged(func(*args), None, handler.records)
    except Exception as exc:  # raised again by Logged.result, in the parent
        return Logged(None, exc, handler.records)
    finally:
        veille.removeHandler(handler)
        veille.setLevel(level)


def _init_worker(parent: int) -> None:
    """Ctrl-C reaches the whole process group, but the parent decides when workers stop; a worker
    whose parent was killed (SIGKILL, the OOM killer) exits instead of lingering forever. On Linux
    the kernel kills it (crawler/lifeline.py); this watch is for other systems and for workers
    spawned from another thread than the main one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="veille-parent-watch", daemon=True).start()


class AnalysisPool:
    """A pool of worker processes for analyse_page and big documents' parsing; with 0 workers
    everything runs inline. Start its work from the main thread (the reactor's): see lifeline."""

    def __init__(self, workers: int, timeout: float = 120) -> None:
        self.workers = workers
        self.timeout = timeout
        self.executor: ProcessPoolExecutor | None = None  # started on first use: a cycle with
        # nothing new never pays for starting a process

    def _new_executor(self) -> ProcessPoolExecutor | None:
        if self.workers <= 0:
            return None
        # spawn, not fork: forking a process that runs a reactor and threads is unsafe. Tied: a
        # worker dies with this process, even one spawned just before a SIGKILL.
        return ProcessPoolExecutor(
            self.workers, mp_context=tied_context(), initializer=_init_worker, initargs=(os.getpid(),)
        )

    async def analyse(self, html: str, url: str, rules: SiteRules, hints: FeedEntry | None) -> Analysis:
        """Analyse a page in a worker; inline if the pool broke (a worker crashed) and was replaced."""
        try:
            return await self._submit(url, analyse_page, html, url, rules, hints)
        except BrokenProcessPool:
            return analyse_page(html, url, rules, hints)

    async def call(self, what: str, func: Callable[..., T], *args: Any) -> T:
        """func(*args) in a worker (parsing a big feed or sitemap), what it logs logged here; inline
        with 0 workers. When the pool breaks (maybe another task's doing), once more in the new one:
        never inline, where a document that kills a worker would kill the crawler."""
        if self.workers <= 0:
            return func(*args)
        try:
            logged = await self._submit(what, run_logged, func, *args)
        except BrokenProcessPool:
            logged = await self._submit(what, run_logged, func, *args)
        return logged.result()

    async def _submit(self, what: str, func: Callable[..., T], *args: Any) -> T:
        """func(*args) in a worker, inline with 0 workers; BrokenProcessPool once the pool that broke
        was replaced."""
        if self.executor is None:
            self.executor = self._new_executor()
        executor = self.executor
        if executor is None:
            return func(*args)
        try:
            future = executor.submit(func, *args)
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except BrokenProcessPool:
            logger.error("an extraction worker died on %s; restarting the pool", what)
            if self.executor is executor:  # the first of its tasks to notice replaces it
                executor.shutdown(wait=False, cancel_futures=True)
                self.executor = self._new_executor()
            raise

    def close(self) -> None:
        """Stop the workers."""
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
