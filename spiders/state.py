"""What the spider remembers about each source during one crawl (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from crawler.config import Route, Source
from crawler.extract.feeds import FeedEntry
from crawler.runs import SourceRun


@dataclass
class SourceState:
    """One source's run record, unused fallbacks, what it already saw in this crawl, and the
    validators to save once its articles are stored."""

    source: Source
    run: SourceRun
    fallbacks: list[Route]
    seen_keys: set[str] = field(default_factory=set)
    slots: dict[str, int] = field(default_factory=dict)  # identity key: index in `entries`
    entries: list[FeedEntry] = field(default_factory=list)  # per article, what every route said
    fetching: set[int] = field(default_factory=set)  # slots of the articles whose page is requested
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

    def merge(self, keys: list[str], entry: FeedEntry) -> int:
        """Record what a route says of one article and return its slot in `entries`: the entry seen
        first, its blanks filled by later ones (a sitemap has no summary or GUID; the feed listing
        the same article has)."""
        # By URL keys only: two articles may share a GUID or post id by mistake, and one must not
        # fill the other's blanks (a wrong GUID would become a permanent key of the archive).
        keys = [k for k in keys if k.startswith("url:")]
        slot = next((self.slots[k] for k in keys if k in self.slots), None)
        if slot is None:
            slot = len(self.entries)
            self.entries.append(entry)
        else:
            known = self.entries[slot]
            blanks = {
                f.name: getattr(entry, f.name)
                for f in fields(FeedEntry)
                if getattr(known, f.name) is None and getattr(entry, f.name) is not None
            }
            if blanks:
                self.entries[slot] = replace(known, **blanks)
        for key in keys:
            self.slots.setdefault(key, slot)
        return slot
