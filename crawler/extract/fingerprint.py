"""Fingerprints for change detection (content hash) and near-duplicates (MinHash with LSH bands).

MinHash estimates the Jaccard similarity of two texts' word 3-shingles; it stays accurate on the
short dispatches that news sites reprint, where a 64-bit SimHash moved by 9 bits for a copy
sharing 82% of its shingles.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from crawler.extract.normalize import WORD_RE, tokens

__all__ = [
    "PERMUTATIONS",
    "content_hash",
    "fingerprint_text",
    "lsh_bands",
    "minhash",
    "similarities",
    "similarity",
]

PERMUTATIONS = 128
MIN_FINGERPRINT_TEXT = 200  # characters; shorter texts would link unrelated briefs
BANDS = 32  # 32 bands of 4 rows: a pair at similarity 0.5 shares a band 87% of the time, 0.7: 99.98%
_MIX = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: spreads the word hashes


def _coefficients() -> tuple[np.ndarray, np.ndarray]:
    # Derived from a hash, not a random generator, so fingerprints never change between versions.
    raw = hashlib.shake_256(b"veille-minhash-v2").digest(PERMUTATIONS * 16)
    values = np.frombuffer(raw, dtype="<u8").reshape(2, PERMUTATIONS)
    return values[0] | np.uint64(1), values[1]  # multipliers must be odd


_A, _B = _coefficients()


def shingle_hashes(text: str, size: int = 3) -> np.ndarray:
    """Distinct 32-bit hashes of the text's word shingles (a repeated paragraph counts once)."""
    return _shingles(tokens(text), size)


def _shingles(words: list[str], size: int = 3) -> np.ndarray:
    if not words:
        return np.empty(0, dtype=np.uint64)
    ids = {word: zlib.crc32(word.encode("utf-8", "surrogatepass")) for word in set(words)}
    codes = np.fromiter((ids[w] for w in words), dtype=np.uint64, count=len(words))
    size = min(size, len(words))
    combined = np.zeros(len(words) - size + 1, dtype=np.uint64)
    for offset in range(size):  # polynomial hash of the shingle's word hashes, wrapping at 2**64
        combined = combined * _MIX + codes[offset : len(codes) - size + 1 + offset]
    return np.unique(combined >> np.uint64(32))


def minhash(text: str) -> bytes:
    """128 MinHash values of the text's shingles (512 bytes); empty bytes when it has no word."""
    return _minhash(shingle_hashes(text))


def _minhash(values: np.ndarray) -> bytes:
    if not values.size:
        return b""
    # Multiply-shift hashing, (a*x + b mod 2**64) >> 32: 2-universal, and no slow modulo. The shift
    # keeps the order, so it is applied to the 128 minima rather than to every value.
    hashed = values[:, None] * _A
    hashed += _B
    return (hashed.min(axis=0) >> np.uint64(32)).astype("<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two MinHash signatures (0.0 when either is empty)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(np.mean(np.frombuffer(a, dtype="<u4") == np.frombuffer(b, dtype="<u4")))


def similarities(signature: bytes, others: list[bytes]) -> list[float]:
    """similarity() of one signature with each of several, in one numpy pass."""
    scores = np.zeros(len(others))
    comparable = [i for i, other in enumerate(others) if signature and len(other) == len(signature)]
    if comparable:
        mine = np.frombuffer(signature, dtype="<u4")
        matrix = np.frombuffer(b"".join(others[i] for i in comparable), dtype="<u4").reshape(-1, len(mine))
        scores[comparable] = np.count_nonzero(matrix == mine, axis=1) / len(mine)
    return scores.tolist()


def lsh_bands(signature: bytes, bands: int = BANDS) -> list[int]:
    """One signed 64-bit key per band of rows; similar signatures share at least one key."""
    if not signature:
        return []
    width = len(signature) // bands
    return [
        int.from_bytes(
            hashlib.blake2b(signature[i * width : (i + 1) * width], digest_size=8).digest(),
            "big",
            signed=True,
        )
        for i in range(bands)
    ]


def fingerprint_text(
    title: str | None, summary: str | None, body: str | None, normalized_body: str | None = None
) -> bytes:
    """MinHash of the body (or title and summary when the body is short); empty for too little text.
    `normalized_body`, normalize(body) when the caller has it, saves normalising the body again."""
    text = body or ""
    if len(text) >= MIN_FINGERPRINT_TEXT:
        words = tokens(text) if normalized_body is None else WORD_RE.findall(normalized_body)
        return _minhash(_shingles(words))
    text = " ".join(filter(None, (title, summary, body)))
    return minhash(text) if len(text) >= MIN_FINGERPRINT_TEXT else b""


def content_hash(*parts: str | None) -> str:
    """SHA-1 hex digest of the parts (None counts as empty), for change detection."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        # A NUL separator keeps ("ab", "c") apart from ("a", "bc").
        digest.update((part or "").encode("utf-8", "surrogatepass") + b"\x00")
    return digest.hexdigest()
