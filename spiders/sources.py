"""The config-driven spider: each source's routes (with fallbacks), then its unseen article pages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.archive.articles import Archive
from crawler.config import Config, Route, Source, load_config
from crawler.exceptions import FeedError
from crawler.extract.article import MIN_BODY, SiteRules
from crawler.extract.dates import utc_now_iso
from crawler.extract.feeds import FeedEntry
from crawler.extract.urls import endpoint, identity_keys, trusted_canonical
from crawler.failures import describe_failure
from crawler.items import ArticleItem
from crawler.runs import SourceRun
from crawler.workers import AnalysisPool
from spiders.routes import Discovery, discover, newest_first, worker_note
from spiders.state import SourceState
from spiders.tracking import Tracker

MAX_CHILD_SITEMAPS = 5
# Feeds and sitemaps this big are parsed in a worker; smaller ones here, where they cost less than
# the trip to a worker would (README, "Reliability and security"; bench/feeds.py).
WORKER_PARSE_BYTES = 256 * 1024
UNREACHABLE = (CannotResolveHostError, DownloadConnectionRefusedError)


class SourcesSpider(scrapy.Spider):
    """Crawl the selected sources of the config (all enabled ones by default)."""

    name = "veille"

    def __init__(
        self,
        config: Config | None = None,
        sources: str | list[str] | None = None,
        archive: Archive | None = None,
        run_id: str | None = None,
        on_source_done: Callable[[SourceRun], None] | None = None,
        pool: AnalysisPool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.selected = sources.split(",") if isinstance(sources, str) else sources
        self.archive, self.owns_archive = archive, archive is None
        self.pool, self.owns_pool = pool, pool is None
        self.run_id = run_id or utc_now_iso()
        self.states: dict[str, SourceState] = {}
        self.runs: dict[str, SourceRun] = {}  # each crawled source's outcome, shared with the pipeline
        self.dead_hosts: dict[str, str] = {}
        self.tracker = Tracker(self._source_done)
        self.on_source_done = on_source_done
        self.cut_by: str | None = None  # set by interrupt(): what fails from now on is the cut's doing
        self.cut = asyncio.Event()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourcesSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.config is None:
            spider.config = load_config(Path(crawler.settings.get("VEILLE_CONFIG_DIR", "config")))
        if spider.archive is None:
            spider.archive = Archive.for_config(spider.config)
        if spider.pool is None:
            spider.pool = AnalysisPool(spider.config.settings.extract_workers)
        crawler.signals.connect(spider._item_settled, signal=signals.item_scraped)
        crawler.signals.connect(spider._item_settled, signal=signals.item_dropped)
        crawler.signals.connect(spider._item_failed, signal=signals.item_error)
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
            run = SourceRun(source.name, self.run_id, utc_now_iso())
            self.states[source.name] = SourceState(source, run, list(source.fallbacks))
            self.runs[source.name] = run
        for source in sources:
            for route in source.routes:
                for request in self._open_route(self.states[source.name], route):
                    yield request

    # -- routes --------------------------------------------------------------------------------

    def _open_route(self, state: SourceState, route: Route) -> Iterator[scrapy.Request]:
        """The first request of a route, unless its server asked us to wait (then its fallback)."""
        waiting = self.archive.retry_after_until(route.url)
        if waiting and waiting > utc_now_iso():
            yield from self._route_error(
                state, route, route.url, f"skipped: the server asked us to wait until {waiting}", None
            )
            return
        yield self._route_request(state, route, route.url)

    def _route_request(
        self, state: SourceState, route: Route, url: str, page: int = 1, depth: int = 0, primary: bool = True
    ) -> scrapy.Request:
        headers = {}
        if route.kind != "listing":
            etag, modified = self.archive.validators(url)
            headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", modified)) if v}
        state.first_visit(url)
        meta = {
            "source": state.source.name,
            "route": route,
            "page": page,
            "depth": depth,
            "primary": primary,
            "fetch_url": url,
            "handle_httpstatus_list": [304],
        }
        request = scrapy.Request(
            url,
            callback=self.parse_route,
            errback=self.route_failed,
            headers=headers,
            meta=meta,
            dont_filter=True,
            priority=10,
        )
        return self.tracker.track(state.source.name, request)

    def parse_route(self, response: Response) -> Iterator[Any] | AsyncIterator[Any]:
        """A route's page: its article requests and next pages. A big feed or sitemap is parsed in a
        worker process: the callback is then asynchronous, and the reactor serves every other
        source meanwhile (a 100,000-item feed took 15 s of its time)."""
        state = self.states[response.meta["source"]]
        if response.status != 304 and self._parses_in_worker(response):
            return self._parse_route_in_worker(response, state)
        return self._parse_route_here(response, state)

    def _parses_in_worker(self, response: Response) -> bool:
        threshold = self.settings.getint("VEILLE_WORKER_PARSE_BYTES", WORKER_PARSE_BYTES)
        return response.meta["route"].kind in ("feed", "sitemap") and len(response.body) >= threshold

    def _parse_route_here(self, response: Response, state: SourceState) -> Iterator[Any]:
        with self.tracker.settling(state.source.name):
            if response.status == 304:
                self._not_modified(response, state)
                return
            try:
                found: Discovery | Exception = discover(*self._discover_args(response))
            except Exception as exc:  # FeedError, or a parser surprise: either way this route failed
                found = exc
            yield from self._handle_route(response, state, found)

    async def _parse_route_in_worker(self, response: Response, state: SourceState) -> AsyncIterator[Any]:
        with self.tracker.settling(state.source.name):
            route, started = response.meta["route"], time.monotonic()
            parsing = asyncio.ensure_future(
                self.pool.call(f"{route.kind} {response.url}", discover, *self._discover_args(response))
            )
            cut = asyncio.ensure_future(self.cut.wait())
            try:
                await asyncio.wait((parsing, cut), return_when=asyncio.FIRST_COMPLETED)
            finally:  # a task not done stays so until the loop runs it again: done() still tells
                cut.cancel()
                parsing.cancel()
            if not parsing.done():  # the crawl is being cut: no new request from this route
                state.run.fail(f"{route.kind} {response.url}: not read: the crawl was cut ({self.cut_by})")
                return
            try:
                found: Discovery | Exception = parsing.result()
            except Exception as exc:
                found = exc
            else:
                limit, seconds = self._article_limit(), time.monotonic() - started
                size = len(response.body)
                self.logger.info(
                    "%s", worker_note(state.source.name, route, response.url, size, found, limit, seconds)
                )
            for out in self._handle_route(response, state, found):
                yield out

    def _discover_args(self, response: Response) -> tuple:
        route = response.meta["route"]
        listing = route.kind == "listing" and isinstance(response, TextResponse)
        return (
            route,
            response.body,
            response.url,
            _headers(response),
            response.text if listing else None,  # feeds and sitemaps are read as bytes
            self.settings.getint("DOWNLOAD_MAXSIZE") or 50_000_000,
            self._article_limit(),
        )

    def _article_limit(self) -> int:
        return self.settings.getint("VEILLE_MAX_ARTICLES_PER_ROUTE", 200)

    def _not_modified(self, response: Response, state: SourceState) -> None:
        state.run.not_modified += 1
        state.run.routes_ok += response.meta["primary"]
        self.archive.record_fetch(
            response.meta["fetch_url"], state.source.name, response.meta["route"].kind, 304
        )

    def _handle_route(
        self, response: Response, state: SourceState, found: Discovery | Exception
    ) -> Iterator[Any]:
        run, meta, route = state.run, response.meta, response.meta["route"]
        fetch_url = meta["fetch_url"]  # validators are kept under the URL we ask for, not a redirect's
        if isinstance(found, Exception):
            message = (
                str(found)
                if isinstance(found, FeedError)
                else (f"could not read the {route.kind}: {found!r}")
            )
            yield from self._route_error(state, route, fetch_url, message, response.status, meta["primary"])
            return
        self.archive.record_fetch(fetch_url, state.source.name, route.kind, response.status)
        # Saved only once the source's articles are stored: a crash before that must not turn the
        # next fetch into a 304 that hides the articles we never got.
        state.validators[fetch_url] = (_header(response, "ETag"), _header(response, "Last-Modified"))
        run.routes_ok += meta["primary"]
        yield from self._follow(state, route, found, meta)
        yield from self._article_requests(state, route, found.entries)

    def _follow(self, state: SourceState, route: Route, found: Any, meta: dict) -> Iterator[Any]:
        """Child sitemaps of an index (one level, newest first) and the next listing page."""
        if meta["depth"] == 0:
            children = sorted(found.children, key=lambda c: c.updated_at or "", reverse=True)
            fresh = [c for c in children if c.url not in state.visited]
            for child in fresh[:MAX_CHILD_SITEMAPS]:
                yield self._route_request(state, route, child.url, depth=1, primary=False)
        if found.next_page and meta["page"] < route.pages and found.next_page not in state.visited:
            yield self._route_request(state, route, found.next_page, meta["page"] + 1, primary=False)

    async def route_failed(self, failure: Failure) -> AsyncIterator[scrapy.Request]:
        """Errback of route requests: wait out a short Retry-After, else record and fall back."""
        request = failure.request
        state, route = self.states[request.meta["source"]], request.meta["route"]
        try:
            wait = _retry_after(failure)
            if (
                wait is not None
                and wait <= self.settings.getfloat("VEILLE_RETRY_AFTER_MAX", 120)
                and not request.meta.get("retried_after")
                and await self._wait_unless_cut(wait)
            ):
                retry = request.replace(dont_filter=True)
                retry.meta["retried_after"] = True
                yield self.tracker.track(state.source.name, retry)
                return
            if wait is not None:
                self.archive.set_retry_after(request.meta["fetch_url"], state.source.name, route.kind, wait)
            message = describe_failure(
                failure.value,
                self.settings.getfloat("DOWNLOAD_TIMEOUT"),
                self.settings.getint("DOWNLOAD_MAXSIZE"),
            )
            if isinstance(failure.value, UNREACHABLE):
                self.dead_hosts[endpoint(request.url)] = message
            status = getattr(getattr(failure.value, "response", None), "status", None)
            for retry in self._route_error(
                state, route, request.meta["fetch_url"], message, status, request.meta.get("primary", True)
            ):
                yield retry
        finally:
            self.tracker.settle(state.source.name)

    def _route_error(
        self,
        state: SourceState,
        route: Route,
        url: str,
        message: str,
        status: int | None,
        primary: bool = True,
    ) -> Iterator[scrapy.Request]:
        """Record a route's failure; for a primary route, start the next usable fallback."""
        self.archive.record_fetch(url, state.source.name, route.kind, status, error=message)
        self.logger.info("%s: %s %s: %s", state.source.name, route.kind, url, message)
        state.run.fail(f"{route.kind} {url}: {message}")
        if not primary or self.cut_by:  # a crawl being cut starts nothing new
            return
        state.run.routes_failed += 1
        while (fallback := state.next_fallback()) is not None:
            dead = self.dead_hosts.get(endpoint(fallback.url))
            if dead:  # a host that failed DNS or refused us this run would only fail again
                state.run.fail(f"{fallback.label()}: skipped, its host failed earlier: {dead}")
                continue
            self.logger.info("%s: trying fallback %s", state.source.name, fallback.label())
            yield self._route_request(state, fallback, fallback.url)
            return

    # -- articles ------------------------------------------------------------------------------

    def _article_requests(
        self, state: SourceState, route: Route, entries: tuple[FeedEntry, ...]
    ) -> Iterator[scrapy.Request]:
        for entry in newest_first(entries, self._article_limit()):
            state.run.found += 1
            keys = identity_keys(entry.url, guid=entry.guid)
            slot = state.merge(keys, entry)  # a later route's summary or GUID still reaches the item
            fetching = not state.is_new(keys) and slot in state.fetching
            # Seen by an earlier route of this crawl but not fetched: this route's date may still
            # say it changed (a sitemap's lastmod where the feed gave none).
            if fetching or not self._needs_fetch(keys, entry):
                state.run.duplicate += 1
                continue
            retry_at = self.archive.page_retry_at(keys)
            if retry_at and retry_at > utc_now_iso():  # failed before: not at every poll
                state.run.pages_waiting += 1
                continue
            state.fetching.add(slot)
            request = scrapy.Request(
                entry.url,
                callback=self.parse_article,
                errback=self.article_failed,
                dont_filter=True,
                meta={
                    "source": state.source.name,
                    "route": route,
                    "slot": slot,
                    "keys": keys,
                    "failed_before": retry_at is not None,
                },
            )
            yield self.tracker.track(state.source.name, request)

    def _needs_fetch(self, keys: list[str], entry: FeedEntry) -> bool:
        known = self.archive.lookup(keys)
        if known is None:
            return True
        # Changed since we last had it: after the date a route gave, or, when none ever did, after
        # we first stored it.
        return bool(entry.updated_at and entry.updated_at > (known["source_updated"] or known["first_seen"]))

    async def parse_article(self, response: Response) -> AsyncIterator[ArticleItem]:
        """Extract one article page into an item (in a worker process); the pipeline stores it."""
        state = self.states[response.meta["source"]]
        source, entry = state.source, state.entries[response.meta["slot"]]
        if not isinstance(response, TextResponse):
            self._page_failed(state, f"article {response.url}: not an HTML page", response.meta)
            return
        rules = SiteRules(dict(source.extract), source.timezone, source.languages)
        try:
            analysis = await self.pool.analyse(response.text, response.url, rules, entry)
        except Exception as exc:  # one broken page must not stop the source
            self.logger.exception("%s: extraction failed for %s", source.name, response.url)
            self._page_failed(state, f"article {response.url}: extraction failed: {exc!r}", response.meta)
            return
        if response.meta.get("failed_before"):
            self.archive.forget_page_failures(response.meta["keys"])
        page = analysis.page
        route = response.meta["route"]
        canonical = trusted_canonical(page.canonical, response.url, route.url)
        yield ArticleItem(
            source=source.name,
            url=canonical,
            fetched_url=response.url,
            link=entry.url,
            guid=entry.guid,
            title=page.title,
            summary=page.summary,
            body=page.body,
            author=page.author,
            language=page.language,
            published_at=page.published_at,
            source_updated=entry.updated_at or page.modified_at,
            via=route.kind,
            route_url=route.url,
            missing=list(page.missing),
            digest=analysis.digest,
        )

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        """Errback of article pages: keep the feed's full text when it has one, else record the error."""
        request = failure.request
        state = self.states[request.meta["source"]]
        entry = state.entries[request.meta["slot"]]
        message = describe_failure(
            failure.value,
            self.settings.getfloat("DOWNLOAD_TIMEOUT"),
            self.settings.getint("DOWNLOAD_MAXSIZE"),
            article=True,
        )
        if entry.content and len(entry.content) >= MIN_BODY:
            state.run.fail(f"article {request.url}: {message}; stored the feed's text instead")
            route = request.meta["route"]
            yield ArticleItem(
                source=state.source.name,
                url=entry.url,
                link=entry.url,
                guid=entry.guid,
                title=entry.title,
                summary=entry.summary,
                body=entry.content,
                author=entry.author,
                language=entry.language or state.source.languages[0],
                published_at=entry.published_at,
                source_updated=entry.updated_at,
                via=f"{route.kind}-content",
                route_url=route.url,
            )
            return
        self._page_failed(state, f"article {request.url}: {message}", request.meta)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _page_failed(self, state: SourceState, message: str, meta: dict | None = None) -> None:
        state.run.pages_failed += 1
        state.run.fail(message)
        if meta and meta.get("keys") and not self.cut_by:  # a page our own stop cut did not fail
            url = state.entries[meta["slot"]].url
            self.archive.record_page_failure(meta["keys"][0], url, state.source.name, message)
        self.tracker.settle(state.source.name)

    def _item_settled(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, ArticleItem):
            self.states[item.source].run.pages_ok += 1
            self.tracker.settle(item.source)

    def _item_failed(self, item: Any, failure: Failure, **kwargs: Any) -> None:
        if isinstance(item, ArticleItem):
            self._page_failed(
                self.states[item.source], f"article {item.url}: not stored: {describe_failure(failure.value)}"
            )

    def interrupt(self, reason: str) -> None:
        """The crawl is being cut (its downloads aborted): sources that end from now on are
        recorded as interrupted, not failed, and Retry-After waits end."""
        self.cut_by = reason
        self.cut.set()

    async def _wait_unless_cut(self, seconds: float) -> bool:
        """Wait (in the spider: no download slot is held meanwhile); False when the crawl was cut."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cut.wait(), seconds)
        return not self.cut.is_set()

    def _source_done(self, name: str) -> None:
        state = self.states[name]
        run = state.run
        if run.finished_at is None:
            if self.cut_by and not run.interrupted and run.errors:  # a clean finish stays a success
                run.interrupt(self.cut_by, first=True)  # the cause of the errors after it
            run.finished_at = utc_now_iso()
            # Any failure (an article, a child sitemap, a next page): the next crawl reads the routes again.
            if not run.interrupted and not run.pages_failed and not run.errors:
                for url, (etag, modified) in state.validators.items():
                    self.archive.save_validators(url, etag, modified)
            self.archive.record_run(run)
            if self.on_source_done:
                self.on_source_done(run)

    def closed(self, reason: str) -> None:
        for state in self.states.values():
            if state.run.finished_at is None:
                if reason != "finished":
                    state.run.interrupt(reason)
                self._source_done(state.source.name)
        if self.owns_archive:
            self.archive.close()
        if self.owns_pool:
            self.pool.close()


def _retry_after(failure: Failure) -> float | None:
    """Seconds a 429/503 answer asked us to wait (set by RetryAfterMiddleware), or None."""
    if isinstance(failure.value, HttpError):
        return failure.value.response.meta.get("retry_after")
    return None


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _headers(response: Response) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v[0].decode("latin-1") for k, v in response.headers.items() if v}
