"""Scrapy settings: polite defaults; `scrapy_settings()` layers config/settings.yaml on top."""

from __future__ import annotations

import os
from typing import Any

from crawler import __version__
from crawler.config.settings import Settings

BOT_NAME = "veille"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

ROBOTSTXT_OBEY = True
USER_AGENT = f"Veille/{__version__} (+https://github.com/veille-maroc/veille)"
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
# Scrapy starts this many tasks for every callback's output; an article page yields one item.
CONCURRENT_ITEMS = 8
DOWNLOAD_DELAY = 1.5
DOWNLOAD_DELAY_JITTER = 0.5  # 0.5x to 1.5x the delay, as browsers look
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10_000_000
DOWNLOAD_WARNSIZE = 5_000_000
RETRY_TIMES = 2
# A name that does not resolve will not resolve a second later: no retry for DNS failures.
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    "scrapy.core.downloader.handlers.http11.TunnelError",
]
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,application/rss+xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "fr,ar;q=0.9,en;q=0.8",
}
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.AddressGuardMiddleware": 40,  # first: nothing leaves before it, robots.txt included
    "crawler.middlewares.DeadHostMiddleware": 50,  # before robots.txt, which would be tried too
    "crawler.middlewares.RetryAfterMiddleware": 560,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.middlewares.SharedRobotsTxtMiddleware": 100,
}
VEILLE_ROBOTS_TTL = 86400  # seconds a site's robots.txt is trusted by every crawl of the process
# http and https only: Scrapy's handlers for file:, data:, ftp: and s3: would read what a feed points at.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
TWISTED_DNS_RESOLVER = "crawler.resolver.GuardedResolver"
ITEM_PIPELINES = {"crawler.pipelines.ArchivePipeline": 300}
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
LOG_LEVEL = "INFO"
# Where `scrapy crawl veille` finds the config directory (the `veille` CLI passes it directly).
VEILLE_CONFIG_DIR = os.environ.get("VEILLE_CONFIG", "config")


def scrapy_settings(settings: Settings, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Scrapy settings overridden by the admin's settings.yaml."""
    out = dict(base or {})
    out.update(
        {
            "USER_AGENT": settings.user_agent_string(__version__),
            "DOWNLOAD_DELAY": float(settings.download_delay),
            "DOWNLOAD_DELAY_JITTER": 0.5 if settings.download_delay > 0 else 0.0,
            "CONCURRENT_REQUESTS_PER_DOMAIN": settings.concurrent_per_domain,
            "CONCURRENT_REQUESTS": settings.concurrent_requests,
            "DOWNLOAD_TIMEOUT": float(settings.timeout),
            "RETRY_TIMES": settings.retries,
            "DOWNLOAD_MAXSIZE": settings.max_response_bytes,
            "DOWNLOAD_WARNSIZE": settings.max_response_bytes // 2,
            "ROBOTSTXT_OBEY": settings.obey_robots_txt,
            "VEILLE_RETRY_AFTER_MAX": settings.retry_after_max,
        }
    )
    return out
