"""From an extracted item to an archive record: identity keys, content hash, fingerprint (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.archive.articles import StoredArticle
from crawler.archive.search import Texts, indexed_texts
from crawler.extract.cleaning import safe_text
from crawler.extract.fingerprint import content_hash, fingerprint_text
from crawler.extract.urls import clean_url, identity_keys
from crawler.items import ArticleItem

ARTICLE_FIELDS = (
    "source",
    "url",
    "title",
    "summary",
    "body",
    "author",
    "language",
    "published_at",
    "source_updated",
    "guid",
    "via",
)
TEXT_FIELDS = ("url", "title", "summary", "body", "author", "guid")


@dataclass(frozen=True)
class Digest:
    """What the archive derives from an article's text: the normalised texts it indexes, the hash
    that tells a change, and the MinHash that finds its story."""

    texts: Texts
    content_hash: str
    fingerprint: bytes


def digest_text(title: str | None, summary: str | None, body: str | None) -> Digest:
    """Normalise, hash and fingerprint an article's text, normalising each field once."""
    # On normalised text: a typographic apostrophe or a re-encoded entity is not a change. The same
    # normalised texts are what the archive indexes and what the matcher reads.
    texts = indexed_texts(title, summary, body)
    return Digest(texts, content_hash(*texts), fingerprint_text(title, summary, body, texts[2]))


def build_record(item: ArticleItem) -> StoredArticle:
    """The archive record of an article item, keyed by every URL, GUID and post id it carries."""
    fields = {name: getattr(item, name) for name in ARTICLE_FIELDS}
    # The extraction boundary: whatever a page or feed carried, no stored text holds a control
    # character, a lone surrogate or a bidi override (the worker's digest is then of other text).
    cleaned = {name: safe_text(fields[name]) for name in TEXT_FIELDS if fields[name]}
    unsafe = {name: text for name, text in cleaned.items() if text != fields[name]}
    fields.update(unsafe)
    fields["url"] = clean_url(unsafe.get("url", item.url))
    keys = identity_keys(unsafe.get("url", item.url), item.fetched_url, item.link, guid=fields["guid"])
    digest = (None if unsafe else item.digest) or digest_text(
        fields["title"], fields["summary"], fields["body"]
    )
    return StoredArticle(
        keys=tuple(keys),
        fields=fields,
        content_hash=digest.content_hash,
        minhash=digest.fingerprint,
        texts=digest.texts,
    )
