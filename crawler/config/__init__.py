"""Load and validate the config directory (settings, sources, keywords, watchers) into typed objects."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.config.schedules import Schedule, parse_duration, parse_schedule
from crawler.config.settings import SETTINGS, Settings, validate_settings
from crawler.config.topics import Topics, load_topics
from crawler.config.watchers import Watcher, load_watchers
from crawler.config.yamlconf import LANGUAGES, KeyPath, Problems, load_named_list, load_yaml
from crawler.exceptions import ConfigError
from crawler.extract.addresses import hosts_of
from crawler.extract.selectors import selector_error

SOURCE_KEYS = (
    "name",
    "title",
    "languages",
    "homepage",
    "feeds",
    "sitemaps",
    "listings",
    "fallbacks",
    "schedule",
    "timezone",
    "extract",
    "enabled",
    "allow_private_addresses",
    "notes",
)
LISTING_KEYS = ("url", "links", "next", "pages")
EXTRACT_KEYS = ("title", "body", "date", "author")
ROUTE_KINDS = ("feed", "sitemap", "listing")


@dataclass(frozen=True)
class Route:
    """One way to discover a source's articles: a feed, a news sitemap or a listing page."""

    kind: str
    url: str
    links: str | None = None
    next: str | None = None
    pages: int = 1

    def label(self) -> str:
        """Short name for logs: 'feed https://...'."""
        return f"{self.kind} {self.url}"


@dataclass(frozen=True)
class Source:
    """A news site edition with its routes, fallbacks, schedule and extraction overrides."""

    name: str
    title: str
    languages: tuple[str, ...]
    homepage: str | None
    routes: tuple[Route, ...]
    fallbacks: tuple[Route, ...]
    schedule: Schedule
    timezone: str
    extract: tuple[tuple[str, str], ...]
    enabled: bool
    notes: str
    allow_private_addresses: bool = False

    def urls(self) -> tuple[str, ...]:
        """Every URL the admin wrote for this source: home page, routes and fallbacks."""
        return (*([self.homepage] if self.homepage else []), *(r.url for r in self.routes + self.fallbacks))

    def selector(self, field_name: str) -> str | None:
        """The per-site selector for title, body, date or author, if configured."""
        return dict(self.extract).get(field_name)


@dataclass(frozen=True)
class Config:
    """Everything read from one config directory."""

    directory: Path
    settings: Settings
    sources: tuple[Source, ...]
    topics: Topics = field(default_factory=lambda: Topics(Path("keywords.yaml")))
    watchers: tuple[Watcher, ...] = ()

    def source(self, name: str) -> Source:
        """The source called `name`; KeyError if unknown."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def private_hosts(self) -> frozenset[str]:
        """The hosts that may resolve to private addresses: those of the sources that allow it."""
        return frozenset().union(*(hosts_of(s.urls()) for s in self.sources if s.allow_private_addresses))

    def watchers_by_name(self) -> dict[str, Watcher]:
        """The watchers keyed by name, as dispatch and notices look them up."""
        return {w.name: w for w in self.watchers}

    def database_path(self) -> Path:
        """The SQLite path (VEILLE_DB wins over settings.yaml)."""
        return self.settings.database_path(dict(os.environ))


def config_dir(option: str | None) -> Path:
    """The config directory: --config, else VEILLE_CONFIG, else ./config."""
    return Path(option or os.environ.get("VEILLE_CONFIG") or "config")


class SecretsNotNeeded(dict):
    """An environment for a command that sends nothing (search, try, the outbox listing): a
    ${VARIABLE} that is not set reads as empty instead of being an error."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""


def load_config(directory: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config directory; raise ConfigError listing every problem. `environ`
    (default: the process's) is where ${VARIABLE}s are read from."""
    environ = os.environ if environ is None else environ
    if not directory.is_dir():
        raise ConfigError(
            [f"{directory}: config directory not found (hint: pass --config DIR or set VEILLE_CONFIG)"]
        )
    messages: list[str] = []
    settings, messages = read_settings(directory, environ)
    try:
        sources = load_sources(directory / "sources.yaml", settings)
    except ConfigError as exc:
        messages += exc.problems
        sources = ()
    topics = Topics(directory / "keywords.yaml")
    topic_names: set[str] | None = set()
    try:
        if topics.path.exists():
            topics = load_topics(topics.path, {s.name for s in sources} if sources else None)
            topic_names = {t.name for t in topics.topics}
    except ConfigError as exc:
        messages += exc.problems
        topic_names = None  # the watchers' topics cannot be checked against a broken file
    watchers: tuple[Watcher, ...] = ()
    try:
        if (directory / "watchers.yaml").exists():
            watchers = load_watchers(
                directory / "watchers.yaml",
                topic_names,
                {s.name for s in sources} if sources else None,
                environ,
            )
    except ConfigError as exc:
        messages += exc.problems
    if messages:
        raise ConfigError(messages)
    return Config(directory, settings, sources, topics, watchers)


def read_settings(directory: Path, environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """settings.yaml alone: the valid settings (defaults where broken) and its problems; with
    `environ`, an unset ${VARIABLE} is one of them."""
    path = directory / "settings.yaml"
    try:
        raw, lines = load_yaml(path) if path.exists() else (None, {})
    except ConfigError as exc:
        return Settings({s.name: s.default for s in SETTINGS}), exc.problems
    problems = Problems(path, lines)
    settings = validate_settings(raw, problems, environ)
    return settings, problems.messages


def load_sources(path: Path, settings: Settings) -> tuple[Source, ...]:
    """Validate sources.yaml into Source objects."""
    floor = parse_duration(settings.min_interval)
    default_schedule = _default_schedule(settings, floor)
    return load_named_list(
        path,
        "sources",
        "source",
        "site",
        lambda raw, key, problems: _source(
            raw, key, problems, default_schedule, floor, settings.adaptive_polling
        ),
    )


def _default_schedule(settings: Settings, floor: int) -> Schedule:
    try:
        return parse_schedule({"every": settings.default_schedule}, floor, settings.adaptive_polling)
    except ValueError:  # shorter than min_interval: the floor wins, settings.yaml stays valid
        return parse_schedule({"every": f"{floor}s"}, floor, settings.adaptive_polling)


def _source(
    raw: Any, key: KeyPath, problems: Problems, default_schedule: Schedule, floor: int, adaptive: bool
) -> Source | None:
    started = problems.begin_entry(raw, key, "source", SOURCE_KEYS, "hespress-ar")
    if started is None:
        return None
    owner, before = started
    name = raw.get("name")
    languages = _languages(raw.get("languages"), key + ("languages",), problems, owner)
    routes = _routes(raw, key, problems, owner)
    fallbacks = _fallbacks(raw.get("fallbacks", []), key + ("fallbacks",), problems, owner)
    if not routes and set(raw) <= set(SOURCE_KEYS):  # a misspelt key is the error, not the missing route
        problems.add(key, "no route", "give at least one of feeds, sitemaps or listings", owner)
    schedule = _schedule(raw.get("schedule"), key + ("schedule",), problems, owner, floor, adaptive)
    timezone = _timezone(raw.get("timezone", "Africa/Casablanca"), key + ("timezone",), problems, owner)
    extract = _extract(raw.get("extract", {}), key + ("extract",), problems, owner)
    for opt in ("title", "homepage", "notes"):
        if opt in raw:
            problems.expect(raw[opt], str, key + (opt,), f"{opt} is free text", owner)
    if "homepage" in raw and isinstance(raw["homepage"], str):
        _url(raw["homepage"], key + ("homepage",), problems, owner)
    enabled = raw.get("enabled", True)
    problems.expect(enabled, bool, key + ("enabled",), "write enabled: true or enabled: false", owner)
    private = raw.get("allow_private_addresses", False)
    problems.expect(
        private,
        bool,
        key + ("allow_private_addresses",),
        "write allow_private_addresses: true for an intranet site",
        owner,
    )
    if len(problems.messages) > before:
        return None
    return Source(
        name=name,
        title=raw.get("title") or name,
        languages=languages,
        homepage=raw.get("homepage"),
        routes=routes,
        fallbacks=fallbacks,
        schedule=schedule or default_schedule,
        timezone=timezone,
        extract=extract,
        enabled=enabled,
        notes=raw.get("notes", ""),
        allow_private_addresses=private,
    )


def _languages(raw: Any, key: KeyPath, problems: Problems, owner: str) -> tuple[str, ...]:
    hint = f"a list of language codes among {', '.join(LANGUAGES)}, e.g. [fr, ar]"
    if raw is None:
        problems.add(key, "missing", hint, owner)
        return ()
    if not problems.expect(raw, list, key, hint, owner) or not raw:
        if raw == []:
            problems.add(key, "empty list", hint, owner)
        return ()
    for index, lang in enumerate(raw):
        if lang not in LANGUAGES:
            problems.add(key + (index,), f"unknown language {lang!r}", hint, owner)
    return tuple(raw)


def _url(raw: Any, key: KeyPath, problems: Problems, owner: str) -> bool:
    hint = "write the full address, e.g. https://www.hespress.com/feed"
    if not problems.expect(raw, str, key, hint, owner):
        return False
    if not re.match(r"^https?://[^\s/]+", raw) or any(c.isspace() for c in raw):
        problems.add(key, f"{raw!r} is not an http(s) URL", hint, owner)
        return False
    return True


def _routes(raw: dict, key: KeyPath, problems: Problems, owner: str) -> tuple[Route, ...]:
    routes: list[Route] = []
    for plural, kind in (("feeds", "feed"), ("sitemaps", "sitemap")):
        items = raw.get(plural, [])
        if problems.expect(items, list, key + (plural,), f"a list of {kind} URLs", owner):
            routes += [
                Route(kind, u) for i, u in enumerate(items) if _url(u, key + (plural, i), problems, owner)
            ]
    listings = raw.get("listings", [])
    if problems.expect(listings, list, key + ("listings",), "a list of {url, links, pages}", owner):
        for index, item in enumerate(listings):
            route = _listing(item, key + ("listings", index), problems, owner)
            if route:
                routes.append(route)
    return tuple(routes)


def _listing(raw: Any, key: KeyPath, problems: Problems, owner: str) -> Route | None:
    hint = "a listing is {url: ..., links: 'css or xpath', next: 'selector', pages: 2}"
    if not problems.expect(raw, dict, key, hint, owner):
        return None
    problems.check_keys(raw, LISTING_KEYS, key, owner)
    ok = _url(raw.get("url"), key + ("url",), problems, owner)
    for name in ("links", "next"):
        if name == "links" or raw.get(name) is not None:
            ok = _selector(raw.get(name), key + (name,), problems, owner) and ok
    pages = raw.get("pages", 1)
    if problems.expect(pages, int, key + ("pages",), "pages is a whole number, 1 to 20", owner):
        if not 1 <= pages <= 20:
            problems.add(key + ("pages",), f"{pages} is out of range", "use 1 to 20 pages", owner)
            ok = False
    else:
        ok = False
    return Route("listing", raw["url"], raw["links"], raw.get("next"), pages) if ok else None


def _selector(raw: Any, key: KeyPath, problems: Problems, owner: str) -> bool:
    hint = "a CSS selector such as 'h3.entry-title a', or an XPath starting with / or ("
    if not problems.expect(raw, str, key, hint, owner):
        return False
    error = selector_error(raw)
    if error:
        problems.add(key, f"invalid selector {raw!r}: {error}", hint, owner)
    return error is None


def _fallbacks(raw: Any, key: KeyPath, problems: Problems, owner: str) -> tuple[Route, ...]:
    hint = "a list of '- feed: URL', '- sitemap: URL' or '- listing: {url, links, pages}'"
    if not problems.expect(raw, list, key, hint, owner):
        return ()
    routes: list[Route] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in ROUTE_KINDS:
            problems.add(key + (index,), f"unexpected fallback {item!r}", hint, owner)
            continue
        kind, value = next(iter(item.items()))
        if kind == "listing":
            route = _listing(value, key + (index, kind), problems, owner)
            routes += [route] if route else []
        elif _url(value, key + (index, kind), problems, owner):
            routes.append(Route(kind, value))
    return tuple(routes)


def _schedule(
    raw: Any, key: KeyPath, problems: Problems, owner: str, floor: int, adaptive: bool
) -> Schedule | None:
    if raw is None:
        return None
    try:
        return parse_schedule(raw, floor, adaptive)
    except ValueError as exc:
        problems.add(
            key, str(exc), "write {every: 15m}, {every: 15m, slowest: 1h} or {cron: '*/15 * * * *'}", owner
        )
        return None


def _timezone(raw: Any, key: KeyPath, problems: Problems, owner: str) -> str:
    try:
        ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(key, f"unknown time zone {raw!r}", "use an IANA name such as Africa/Casablanca", owner)
    return str(raw)


def _extract(raw: Any, key: KeyPath, problems: Problems, owner: str) -> tuple[tuple[str, str], ...]:
    if not problems.expect(raw, dict, key, "a mapping of title/body/date/author selectors", owner):
        return ()
    problems.check_keys(raw, EXTRACT_KEYS, key, owner)
    return tuple(
        (name, sel)
        for name, sel in raw.items()
        if name in EXTRACT_KEYS and _selector(sel, key + (name,), problems, owner)
    )
