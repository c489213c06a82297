"""What the archive derives from an article's text, computed once (in the extraction worker): the
normalised texts it indexes and matches, the hash that tells a change, and the MinHash (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from crawler.extract.fingerprint import content_hash, fingerprint_text
from crawler.extract.normalize import normalize

Texts = tuple[str, str, str]  # normalised title, summary and body


def indexed_texts(title: str | None, summary: str | None, body: str | None) -> Texts:
    """The normalised title, summary and body: hashed for change detection, and indexed (title;
    summary and body together) by the archive's full-text search."""
    return normalize(title or ""), normalize(summary or ""), normalize(body or "")


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
