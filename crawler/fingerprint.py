"""Fingerprints for change detection (content hash) and near-duplicates (64-bit SimHash)."""

from __future__ import annotations

import hashlib

from crawler.normalize import tokens

__all__ = ["bands", "content_hash", "from_signed", "hamming", "simhash", "to_signed"]

BITS = 64
_MASK = (1 << BITS) - 1


def simhash(text: str, *, shingle: int = 3) -> int:
    """64-bit SimHash of the distinct word shingles of ``tokens(text)``; 0 for no words."""
    words = tokens(text)
    if not words:
        return 0
    size = min(shingle, len(words))
    # Distinct shingles: a paragraph repeated by a layout glitch should not outweigh the rest.
    shingles = {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
    rows = [format(_hash64(s), "064b") for s in shingles]
    half = len(rows) / 2
    # zip(*rows) gives one column of bits per position, most significant first.
    bits = "".join("1" if column.count("1") > half else "0" for column in zip(*rows, strict=True))
    return int(bits, 2)


def _hash64(value: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big"
    )


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints."""
    return (a ^ b).bit_count()


def bands(fp: int, n: int = 4) -> list[int]:
    """Split the 64 bits into n equal bands, lowest first: fingerprints < n bits apart share one."""
    # Bands are comparable only at the same index: index (band index, value) pairs.
    if n <= 0 or BITS % n:
        raise ValueError(f"bands: n must divide {BITS}, got {n}")
    width = BITS // n
    mask = (1 << width) - 1
    return [(fp >> (i * width)) & mask for i in range(n)]


def content_hash(*parts: str | None) -> str:
    """SHA-1 hex digest of the parts (None counts as empty), for change detection."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        # A NUL separator keeps ("ab", "c") apart from ("a", "bc").
        digest.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()


def to_signed(fp: int) -> int:
    """Map an unsigned 64-bit fingerprint to SQLite's signed INTEGER range."""
    fp &= _MASK
    return fp - (1 << BITS) if fp >= 1 << (BITS - 1) else fp


def from_signed(v: int) -> int:
    """Inverse of ``to_signed``."""
    return v & _MASK
