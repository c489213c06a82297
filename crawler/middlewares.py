"""Downloader middleware: notice Retry-After on 429 and 503 answers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a Retry-After header (delta or HTTP date), or None when unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class RetryAfterMiddleware:
    """Read Retry-After on 429/503 answers into request.meta['retry_after'] for the spider to honour.

    Scrapy's RetryMiddleware would retry such an answer at once; this turns that off, and the spider
    waits (without holding a download slot) or, for long waits, leaves the route alone until then.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RetryAfterMiddleware:
        return cls()

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in (429, 503):
            return response
        header = response.headers.get(b"Retry-After")
        wait = retry_after_seconds(header.decode("latin-1") if header else None)
        if wait is not None:
            request.meta["retry_after"] = wait
            request.meta["dont_retry"] = True
        return response
