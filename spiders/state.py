"""What the spider remembers about each source during one crawl (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.config import Route, Source
from crawler.runs import SourceRun


@dataclass
class SourceState:
    """One source's run record, unused fallbacks, what it already saw in this crawl, and the
    validators to save once its articles are stored."""

    source: Source
    run: SourceRun
    fallbacks: list[Route]
    seen_keys: set[str] = field(default_factory=set)
    visited: set[str] = field(default_factory=set)
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # url: etag, modified

    def next_fallback(self) -> Route | None:
        """The next unused fallback route, or None."""
        return self.fallbacks.pop(0) if self.fallbacks else None

    def first_visit(self, url: str) -> bool:
        """True the first time a route URL is seen in this crawl (sitemap loops end here)."""
        if url in self.visited:
            return False
        self.visited.add(url)
        return True

    def is_new(self, keys: list[str]) -> bool:
        """True when none of an entry's identity keys was seen in this crawl; remembers them."""
        new = not self.seen_keys.intersection(keys)
        self.seen_keys.update(keys)
        return new
