"""Fingerprints for change detection (content hash) and near-duplicates (MinHash with LSH bands).

MinHash estimates the Jaccard similarity of two texts' word 3-shingles; it stays accurate on the
short dispatches that news sites reprint, where a 64-bit SimHash moved by 9 bits for a copy
sharing 82% of its shingles.
"""

from __future__ import annotations

import hashlib

import numpy as np

from crawler.normalize import tokens

__all__ = ["PERMUTATIONS", "content_hash", "lsh_bands", "minhash", "similarity"]

PERMUTATIONS = 128
BANDS = 32  # 32 bands of 4 rows: a pair at similarity 0.5 shares a band 87% of the time, 0.7: 99.98%
_PRIME = np.uint64(4294967291)  # the largest prime below 2**32


def _coefficients() -> tuple[np.ndarray, np.ndarray]:
    # Derived from a hash, not a random generator, so fingerprints never change between versions.
    raw = hashlib.shake_256(b"veille-minhash-v1").digest(PERMUTATIONS * 8)
    values = np.frombuffer(raw, dtype="<u4").astype(np.uint64).reshape(2, PERMUTATIONS)
    return values[0] % np.uint64(1 << 31) | np.uint64(1), values[1] % np.uint64(1 << 31)


_A, _B = _coefficients()


def shingles(text: str, size: int = 3) -> set[str]:
    """Distinct word shingles of the normalised text (a repeated paragraph counts once)."""
    words = tokens(text)
    size = min(size, len(words))
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)} if words else set()


def minhash(text: str) -> bytes:
    """128 MinHash values of the text's shingles (512 bytes); empty bytes when it has no word."""
    found = shingles(text)
    if not found:
        return b""
    digests = b"".join(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=4).digest()
                       for s in found)
    values = np.frombuffer(digests, dtype="<u4").astype(np.uint64)
    # (a*x + b) mod p stays below 2**63 for a, b < 2**31 and x < 2**32: no overflow.
    hashed = (np.outer(values, _A) + _B) % _PRIME
    return hashed.min(axis=0).astype("<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two MinHash signatures (0.0 when either is empty)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(np.mean(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4")))


def lsh_bands(signature: bytes, bands: int = BANDS) -> list[int]:
    """One signed 64-bit key per band of rows; similar signatures share at least one key."""
    if not signature:
        return []
    width = len(signature) // bands
    return [int.from_bytes(hashlib.blake2b(signature[i * width:(i + 1) * width], digest_size=8).digest(),
                           "big", signed=True) for i in range(bands)]


def content_hash(*parts: str | None) -> str:
    """SHA-1 hex digest of the parts (None counts as empty), for change detection."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        # A NUL separator keeps ("ab", "c") apart from ("a", "bc").
        digest.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()
