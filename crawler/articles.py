"""From an extracted item to an archive record: identity keys, content hash, fingerprint (pure)."""

from __future__ import annotations

from crawler.fingerprint import content_hash, fingerprint_text
from crawler.items import ArticleItem
from crawler.search import indexed_texts
from crawler.storage import StoredArticle
from crawler.urls import clean_url, identity_keys

ARTICLE_FIELDS = ("source", "url", "title", "summary", "body", "author", "language", "published_at",
                  "source_updated", "guid", "via")


def build_record(item: ArticleItem) -> StoredArticle:
    """The archive record of an article item, keyed by every URL, GUID and post id it carries."""
    fields = {name: getattr(item, name) for name in ARTICLE_FIELDS}
    fields["url"] = clean_url(item.url)
    keys = identity_keys(item.url, item.fetched_url, item.link, guid=item.guid)
    # On normalised text: a typographic apostrophe or a re-encoded entity is not a change. The same
    # normalised texts are what the archive indexes, so they are computed once, here.
    texts = indexed_texts(item.title, item.summary, item.body)
    fingerprint = item.fingerprint
    if fingerprint is None:
        fingerprint = fingerprint_text(item.title, item.summary, item.body)
    return StoredArticle(keys=tuple(keys), fields=fields, content_hash=content_hash(*texts),
                         minhash=fingerprint, texts=texts)
