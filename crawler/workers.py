"""Article analysis (extraction, normalisation, fingerprint) off the reactor, in worker processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

from crawler.extract.article import Extracted, SiteRules, extract_article
from crawler.extract.digest import Digest, digest_text
from crawler.extract.feeds import FeedEntry
from crawler.lifeline import tied_context

logger = logging.getLogger(__name__)
PARENT_CHECK_SECONDS = 1.0


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
    """A pool of worker processes for analyse_page; with 0 workers everything runs inline."""

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
        if self.executor is None:
            self.executor = self._new_executor()
        if self.executor is None:
            return analyse_page(html, url, rules, hints)
        future = self.executor.submit(analyse_page, html, url, rules, hints)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except BrokenProcessPool:
            logger.error("an extraction worker died on %s; restarting the pool", url)
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = self._new_executor()
            return analyse_page(html, url, rules, hints)

    def close(self) -> None:
        """Stop the workers."""
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
