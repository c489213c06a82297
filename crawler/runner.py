"""Running one crawl cycle of some sources in this process, and collecting each source's outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from weakref import WeakSet

from scrapy.crawler import AsyncCrawlerProcess, AsyncCrawlerRunner
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.misc import build_from_crawler, load_object

from crawler.archive.articles import Archive
from crawler.config import Config
from crawler.extract.dates import utc_now_iso
from crawler.runs import SourceRun
from crawler.settings import scrapy_settings
from crawler.workers import AnalysisPool
from spiders.sources import SourcesSpider


def build_scrapy_settings(
    config: Config, log_level: str = "INFO", log_file: str | None = None
) -> ScrapySettings:
    """Project settings with the admin's settings.yaml on top."""
    settings = ScrapySettings()
    settings.setmodule("crawler.settings", priority="project")
    overrides = scrapy_settings(config.settings)
    overrides.update(
        {
            "LOG_LEVEL": log_level,
            "LOG_FILE": log_file,
            "DNS_TIMEOUT": config.settings.timeout,
            "VEILLE_CONFIG_DIR": str(config.directory),
            "VEILLE_MAX_ARTICLES_PER_ROUTE": config.settings.max_articles_per_route,
            "VEILLE_ALLOW_PRIVATE_ADDRESSES": config.settings.allow_private_addresses,
            "VEILLE_PRIVATE_HOSTS": sorted(config.private_hosts()),
            "LOG_INSTALL_ROOT_HANDLER": True,
        }
    )
    settings.setdict(overrides, priority="cmdline")
    return settings


def crawl_once(
    config: Config,
    names: list[str] | None = None,
    on_source_done: Callable[[SourceRun], None] | None = None,
    log_level: str = "INFO",
    log_file: str | None = None,
) -> list[SourceRun]:
    """Crawl the named sources (all enabled ones when None) once; return each source's outcome."""
    archive = Archive.for_config(config)
    try:
        process = AsyncCrawlerProcess(build_scrapy_settings(config, log_level, log_file))
        crawler = process.create_crawler(SourcesSpider)
        process.crawl(
            crawler,
            config=config,
            sources=names,
            archive=archive,
            run_id=utc_now_iso(),
            on_source_done=on_source_done,
        )
        process.start()
        spider = crawler.spider
        return list(spider.runs.values()) if spider is not None else []
    finally:
        archive.close()


def expire_dns_cache(now: float | None = None) -> bool:
    """Empty Scrapy's process-wide DNS cache when it is older than DNS_CACHE_SECONDS (it keeps
    entries forever: a daemon would go on connecting to a site's old address after it moved);
    True when it did."""
    from scrapy.resolver import dnscache

    now = time.monotonic() if now is None else now
    if now - _DNS_CACHE["filled_since"] < DNS_CACHE_SECONDS:
        return False
    dnscache.clear()
    _DNS_CACHE["filled_since"] = now
    return True


DNS_CACHE_SECONDS = 600
_DNS_CACHE = {"filled_since": time.monotonic()}


def prepare_reactor(runner: AsyncCrawlerRunner) -> None:
    """Set up a running reactor for a runner as AsyncCrawlerProcess.start() sets up its own:
    without this, every connection resolved its host through Twisted's uncached resolver, in a
    thread, ignoring DNS_TIMEOUT (5% of the reactor's time on the benchmark site)."""
    if runner in _PREPARED:
        return
    from twisted.internet import reactor

    settings = runner.settings
    # Scrapy passes its CrawlerProcess as the "crawler" here too: the resolvers read only .settings.
    resolver = build_from_crawler(load_object(settings["TWISTED_DNS_RESOLVER"]), runner, reactor=reactor)
    resolver.install_on_reactor()
    reactor.getThreadPool().adjustPoolsize(maxthreads=settings.getint("REACTOR_THREADPOOL_MAXSIZE"))
    _PREPARED.add(runner)


_PREPARED: WeakSet[AsyncCrawlerRunner] = WeakSet()


def cut_downloads(runners: Iterable[AsyncCrawlerRunner]) -> int:
    """Abort every outgoing connection of the reactor, that is every download in flight (and stop
    the connection attempts), after telling the runners' spiders that their sources are being cut
    and their requests not to retry; returns how many.
    Stopping a crawler lets its downloads finish, which for a server that never answers means the
    whole timeout, then each retry after the download delay."""
    from twisted.internet import reactor, tcp

    for runner in runners:
        for crawler in runner.crawlers:
            if isinstance(crawler.spider, SourcesSpider):
                crawler.spider.interrupt("shutdown")
            if crawler.engine is not None:
                for request in crawler.engine.downloader.active:
                    request.meta["dont_retry"] = True
    clients = {s for s in (*reactor.getReaders(), *reactor.getWriters()) if isinstance(s, tcp.Client)}
    for client in clients:
        if client.connected:
            client.abortConnection()
        else:
            client.stopConnecting()
    return len(clients)


async def crawl_sources(
    runner: AsyncCrawlerRunner,
    config: Config,
    archive: Archive,
    pool: AnalysisPool,
    names: list[str] | None = None,
    on_source_done: Callable[[SourceRun], None] | None = None,
) -> list[SourceRun]:
    """One crawl cycle on a reactor that is already running, reusing the archive and worker pool
    across cycles (how a long-lived process crawls); returns each source's outcome."""
    prepare_reactor(runner)
    expire_dns_cache()
    crawler = runner.create_crawler(SourcesSpider)
    await runner.crawl(
        crawler,
        config=config,
        sources=names,
        archive=archive,
        pool=pool,
        run_id=utc_now_iso(),
        on_source_done=on_source_done,
    )
    return list(crawler.spider.runs.values()) if crawler.spider is not None else []
