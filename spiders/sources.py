"""The config-driven spider: each source's routes (with fallbacks), then its unseen article pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawler.config import Config, Route, Source, load_config
from crawler.dates import utc_now_iso
from crawler.exceptions import FeedError
from crawler.extract import MIN_BODY, SiteRules, extract_article
from crawler.failures import describe_failure, http_status_text
from crawler.feeds import FeedEntry
from crawler.items import ArticleItem
from crawler.routes import discover, newest_first
from crawler.runs import SourceRun
from crawler.storage import Archive
from crawler.urls import domain, identity_keys
from spiders.tracking import Tracker

MAX_CHILD_SITEMAPS = 5
UNREACHABLE = (CannotResolveHostError, DownloadConnectionRefusedError)


class SourcesSpider(scrapy.Spider):
    """Crawl the selected sources of the config (all enabled ones by default)."""

    name = "veille"

    def __init__(self, config: Config | None = None, sources: str | list[str] | None = None,
                 archive: Archive | None = None, run_id: str | None = None,
                 on_source_done: Callable[[SourceRun], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.selected = sources.split(",") if isinstance(sources, str) else sources
        self.archive = archive
        self.owns_archive = archive is None
        self.run_id = run_id or utc_now_iso()
        self.runs: dict[str, SourceRun] = {}
        self.fallbacks: dict[str, list[Route]] = {}
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.dead_hosts: dict[str, str] = {}
        self.tracker = Tracker(self._source_done)
        self.on_source_done = on_source_done

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourcesSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.config is None:
            spider.config = load_config(Path(crawler.settings.get("VEILLE_CONFIG_DIR", "config")))
        if spider.archive is None:
            spider.archive = Archive.open(spider.config.database_path())
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(spider._item_settled, signal=signal)
        return spider

    def chosen_sources(self) -> list[Source]:
        """The sources this crawl covers."""
        if self.selected:
            return [self.config.source(name) for name in self.selected]
        return [s for s in self.config.sources if s.enabled]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        sources = self.chosen_sources()
        self.archive.sync_sources(sources)
        for source in sources:
            self.runs[source.name] = SourceRun(source.name, self.run_id, utc_now_iso())
            self.fallbacks[source.name] = list(source.fallbacks)
            for route in source.routes:
                yield self._route_request(source, route, route.url)

    # -- routes --------------------------------------------------------------------------------

    def _route_request(self, source: Source, route: Route, url: str, page: int = 1,
                       primary: bool = True) -> scrapy.Request:
        headers = {}
        if route.kind != "listing":
            etag, modified = self.archive.validators(url)
            headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}
        meta = {"source": source.name, "route": route, "page": page, "primary": primary,
                "handle_httpstatus_list": [304]}
        request = scrapy.Request(url, callback=self.parse_route, errback=self.route_failed,
                                 headers=headers, meta=meta, dont_filter=True, priority=10)
        return self.tracker.track(source.name, request)

    def parse_route(self, response: Response) -> Iterator[scrapy.Request | ArticleItem]:
        meta = response.meta
        source, route = self.config.source(meta["source"]), meta["route"]
        with self.tracker.settling(source.name):
            yield from self._handle_route(response, source, route)

    def _handle_route(self, response: Response, source: Source, route: Route) -> Iterator[Any]:
        run, meta = self.runs[source.name], response.meta
        if response.status == 304:
            run.not_modified += 1
            run.routes_ok += meta["primary"]
            self.archive.record_fetch(response.url, source.name, route.kind, 304)
            return
        try:
            found = discover(route, response.body, response.url, _headers(response),
                             response.text if isinstance(response, TextResponse) else None,
                             self.settings.getint("DOWNLOAD_MAXSIZE") or 50_000_000)
        except FeedError as exc:
            yield from self._route_error(source, route, response.url, str(exc), response.status)
            return
        self.archive.record_fetch(response.url, source.name, route.kind, response.status,
                                  _header(response, "ETag"), _header(response, "Last-Modified"))
        run.routes_ok += meta["primary"]
        children = sorted(found.children, key=lambda c: c.updated_at or "", reverse=True)
        for child in children[:MAX_CHILD_SITEMAPS]:
            yield self._route_request(source, route, child.url, primary=False)
        if found.next_page and meta["page"] < route.pages:
            yield self._route_request(source, route, found.next_page, meta["page"] + 1, primary=False)
        yield from self._article_requests(source, route, found.entries)

    def route_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        """Errback of route requests: record the error, then try the next fallback."""
        request = failure.request
        source, route = self.config.source(request.meta["source"]), request.meta["route"]
        message = describe_failure(failure.value, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        status = getattr(getattr(failure.value, "response", None), "status", None)
        if isinstance(failure.value, UNREACHABLE):
            self.dead_hosts[domain(request.url)] = message
        with self.tracker.settling(source.name):
            yield from self._route_error(source, route, request.url, message, status,
                                         request.meta.get("primary", True))

    def _route_error(self, source: Source, route: Route, url: str, message: str,
                     status: int | None, primary: bool = True) -> Iterator[scrapy.Request]:
        run = self.runs[source.name]
        self.archive.record_fetch(url, source.name, route.kind, status, error=message)
        self.logger.warning("%s: %s %s: %s", source.name, route.kind, url, message)
        run.fail(f"{route.kind} {url}: {message}")
        if not primary:
            return
        run.routes_failed += 1
        while self.fallbacks[source.name]:
            fallback = self.fallbacks[source.name].pop(0)
            dead = self.dead_hosts.get(domain(fallback.url))
            if dead:  # a host that failed DNS or refused us this run would only fail again
                run.fail(f"{fallback.label()}: skipped, its host failed earlier in this run: {dead}")
                continue
            self.logger.info("%s: trying fallback %s", source.name, fallback.label())
            yield self._route_request(source, fallback, fallback.url)
            return

    # -- articles ------------------------------------------------------------------------------

    def _article_requests(self, source: Source, route: Route,
                          entries: tuple[FeedEntry, ...]) -> Iterator[scrapy.Request]:
        run, seen = self.runs[source.name], self.seen[source.name]
        limit = self.settings.getint("VEILLE_MAX_ARTICLES_PER_ROUTE", 200)
        for entry in newest_first(entries, limit):
            run.found += 1
            keys = identity_keys(entry.url, guid=entry.guid)
            if seen.intersection(keys) or not self._needs_fetch(keys, entry):
                run.duplicate += 1
                seen.update(keys)
                continue
            seen.update(keys)
            request = scrapy.Request(entry.url, callback=self.parse_article,
                                     errback=self.article_failed, dont_filter=True,
                                     meta={"source": source.name, "route": route, "entry": entry})
            yield self.tracker.track(source.name, request)

    def _needs_fetch(self, keys: list[str], entry: FeedEntry) -> bool:
        known = self.archive.lookup(keys)
        if known is None:
            return True
        changed = entry.updated_at and known["source_updated"]
        return bool(changed and entry.updated_at > known["source_updated"])

    def parse_article(self, response: Response) -> Iterator[ArticleItem]:
        """Extract one article page into an item (the pipeline stores it)."""
        source = self.config.source(response.meta["source"])
        entry: FeedEntry = response.meta["entry"]
        if not isinstance(response, TextResponse):
            self.runs[source.name].fail(f"article {response.url}: not an HTML page")
            self.tracker.settle(source.name)
            return
        rules = SiteRules(dict(source.extract), source.timezone, source.languages)
        try:
            page = extract_article(response.text, response.url, rules, entry)
        except Exception as exc:  # one broken page must not stop the source
            self.logger.exception("%s: extraction failed for %s", source.name, response.url)
            self.runs[source.name].fail(f"article {response.url}: extraction failed: {exc}")
            self.tracker.settle(source.name)
            return
        canonical = page.canonical if page.canonical and domain(page.canonical) == domain(
            response.url) else response.url
        yield self._item(source, response.meta["route"], entry, canonical, response.url, page)

    def _item(self, source: Source, route: Route, entry: FeedEntry, url: str, fetched: str,
              page: Any) -> ArticleItem:
        return ArticleItem(
            source=source.name, url=url, fetched_url=fetched, link=entry.url, guid=entry.guid,
            title=page.title, summary=page.summary, body=page.body, author=page.author,
            language=page.language, published_at=page.published_at,
            source_updated=entry.updated_at or page.modified_at, via=route.kind,
            route_url=route.url, missing=list(page.missing))

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        """Errback of article pages: keep the feed's full text when it has one, else record the error."""
        request = failure.request
        source = self.config.source(request.meta["source"])
        entry: FeedEntry = request.meta["entry"]
        message = describe_failure(failure.value, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        self.runs[source.name].fail(f"article {request.url}: {message}")
        if entry.content and len(entry.content) >= MIN_BODY:
            yield ArticleItem(source=source.name, url=entry.url, link=entry.url, guid=entry.guid,
                              title=entry.title, summary=entry.summary, body=entry.content,
                              author=entry.author, language=entry.language or source.languages[0],
                              published_at=entry.published_at, source_updated=entry.updated_at,
                              via=f"{request.meta['route'].kind}-content",
                              route_url=request.meta["route"].url)
            return
        self.tracker.settle(source.name)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _item_settled(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, ArticleItem):
            self.tracker.settle(item.source)

    def _source_done(self, name: str) -> None:
        run = self.runs[name]
        if run.finished_at is None:
            run.finished_at = utc_now_iso()
            self.archive.record_run(run)
            if self.on_source_done:
                self.on_source_done(run)

    def closed(self, reason: str) -> None:
        for run in self.runs.values():
            if run.finished_at is None:
                if reason != "finished":
                    run.fail(f"crawl interrupted ({reason})")
                self._source_done(run.source)
        if self.owns_archive:
            self.archive.close()


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _headers(response: Response) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v[0].decode("latin-1")
            for k, v in response.headers.items() if v}


__all__ = ["SourcesSpider", "http_status_text"]
