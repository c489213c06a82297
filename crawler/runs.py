"""Per-source outcome of one crawl cycle: counters, errors, status (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Article pages that must fail, with none working, while the routes worked, for the source to count
# as failed (and after health_failures such crawls, as down). Known pages are not fetched at all, so
# a crawl often fetches only one or two new ones: with a lower bar, one bad link (deleted, forbidden by
# robots.txt, off-site, unreadable) would make a healthy source "down". A site that blocks every page
# of a quiet feed is caught by the silence check instead.
MIN_FAILED_PAGES = 3


@dataclass
class SourceRun:
    """What one source's crawl found, stored and failed at."""

    source: str
    run_id: str
    started_at: str
    finished_at: str | None = None
    found: int = 0
    new: int = 0
    duplicate: int = 0
    updated: int = 0
    not_modified: int = 0
    errors: int = 0
    routes_ok: int = 0
    routes_failed: int = 0
    pages_ok: int = 0
    pages_failed: int = 0
    pages_waiting: int = 0  # failed in an earlier crawl, not tried again yet
    messages: list[str] = field(default_factory=list)
    interrupted: bool = False  # cut by a shutdown or Ctrl-C: says nothing of the source's health

    def fail(self, message: str, first: bool = False) -> None:
        """Record one error of this source (`first`: its message before the others)."""
        self.errors += 1
        if message not in self.messages:
            self.messages.insert(0 if first else len(self.messages), message)

    def interrupt(self, reason: str, first: bool = False) -> None:
        """Record that a stop cut this crawl short (`first`: before the errors the cut caused)."""
        self.fail(f"crawl interrupted ({reason})", first)
        self.interrupted = True

    @property
    def status(self) -> str:
        """'interrupted' when cut short; else 'ok' when all worked, 'partial' when some did, 'failed'
        when no route worked, or no page did out of at least MIN_FAILED_PAGES."""
        if self.interrupted:
            return "interrupted"
        if self.routes_ok == 0 or (not self.pages_ok and self.pages_failed >= MIN_FAILED_PAGES):
            return "failed"
        if self.routes_failed or self.errors or self.pages_failed:
            return "partial"
        return "ok"

    @property
    def succeeded(self) -> bool:
        """True when the crawl went through and articles could come in: 'ok' or 'partial'."""
        return self.status in ("ok", "partial")
