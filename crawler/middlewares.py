"""Downloader middlewares: where the crawler may go, Retry-After on 429 and 503 answers, hosts already
unreachable in this crawl, and robots.txt shared across crawls."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.error import DNSLookupError

from crawler.exceptions import BlockedAddressError
from crawler.extract.addresses import AddressPolicy, is_ip_literal, scheme_refusal
from crawler.extract.urls import endpoint
from crawler.resolver import address_policy

SKIPPED = "skipped, its host failed earlier in this crawl"


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


class AddressGuardMiddleware:
    """Refuse a request that is not http or https (a feed's `file://` link), or whose host is, or
    resolves to, an address the policy forbids. A redirect is a new request and passes here again,
    hop by hop. The GuardedResolver refuses the same addresses when the connection resolves the
    name, so a name that changes its answer in between is still refused; this check is what
    names the reason (Twisted's connection turns a resolver's error into "no results")."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(address_policy(crawler.settings))

    async def process_request(self, request: Request) -> None:
        refusal = scheme_refusal(request.url)
        host = urlparse_cached(request).hostname or ""
        if refusal is None and not self.policy.allow_all:
            address = host if is_ip_literal(host) else await _resolve(host)
            refusal = self.policy.refusal(host, address)
        if refusal:
            raise IgnoreRequest(refusal)


async def _resolve(host: str) -> str:
    """The address a host name resolves to, through the reactor's (caching) resolver."""
    from twisted.internet import reactor

    try:
        return await maybe_deferred_to_future(reactor.resolve(host))
    except BlockedAddressError as exc:
        raise IgnoreRequest(str(exc)) from exc
    except DNSLookupError as exc:  # as the download would fail, without asking the DNS twice
        raise CannotResolveHostError(str(exc)) from exc


class DeadHostMiddleware:
    """Fail at once a request to a host that failed DNS or refused the connection earlier in this
    crawl (the spider's dead_hosts). Queued behind the per-domain delay, each would wait its turn only
    to fail the same way: without a network, 40 sources' fallbacks on one news host took 90 s."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DeadHostMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        dead = getattr(self.crawler.spider, "dead_hosts", {}).get(endpoint(request.url))
        if dead:
            raise IgnoreRequest(f"{SKIPPED}: {dead}")


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt handling, with each site's parsed file kept for the whole process for
    VEILLE_ROBOTS_TTL seconds: the daemon starts a new crawler per crawl, which would otherwise fetch
    robots.txt again at every poll (one more request, and one more download delay, per feed check)."""

    shared: ClassVar[dict[str, tuple[float, Any]]] = {}  # netloc -> (fetched at, parser)

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.ttl = crawler.settings.getfloat("VEILLE_ROBOTS_TTL", 86400)

    async def robot_parser(self, request: Request) -> Any:
        netloc = urlparse_cached(request).netloc
        known = self.shared.get(netloc)
        if known and time.monotonic() - known[0] < self.ttl and netloc not in self._parsers:
            self._parsers[netloc] = known[1]
        parser = await super().robot_parser(request)
        if parser is not None and (known is None or known[1] is not parser):  # a failed fetch is not kept
            self.shared[netloc] = (time.monotonic(), parser)
        return parser
