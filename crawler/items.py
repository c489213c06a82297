"""Scrapy items: plain dataclasses handled through ItemAdapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.extract.digest import Digest


@dataclass
class ArticleItem:
    """One article page as extracted, with the hints its route gave (feed or sitemap fields)."""

    source: str
    url: str
    fetched_url: str = ""
    link: str = ""
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    author: str | None = None
    language: str | None = None
    published_at: str | None = None
    source_updated: str | None = None
    via: str = ""
    route_url: str = ""
    missing: list[str] = field(default_factory=list)
    # crawler.extract.digest.Digest of title, summary and body, computed with the extraction (off the
    # reactor); the pipeline computes it when absent, so set it back to None after changing the text.
    digest: Digest | None = None
