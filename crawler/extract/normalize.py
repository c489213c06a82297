"""Text normalisation shared by search indexing and keyword matching (fr/ar/en).

``normalize`` folds case, Latin accents, Arabic letter variants, harakat, tatweel, digits,
typographic punctuation and whitespace, so that a keyword and a text compare equal whatever
way they were typed. It keeps French elisions and Arabic clitics: matching deals with those.

Every code point is folded on its own through a lazily filled table (one ``str.translate``
call per text); this is what lets ``normalize_with_offsets`` reproduce the exact same string
while recording where each output character came from.
"""

from __future__ import annotations

import bisect
import html
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = ["WORD_RE", "normalize", "normalize_with_offsets", "offsets_array", "original_span", "tokens"]

# A word: a run of letters or digits in any script ("l'ia" gives "l" and "ia").
WORD_RE = re.compile(r"[^\W_]+")

# Same pattern as html.unescape() uses, so we can decode entity by entity and keep offsets.
_ENTITY_RE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_SPACES_RE = re.compile(r"  +")
# A long-running daemon must not grow without bound on pages full of exotic code points.
_CACHE_LIMIT = 65_536
# Each round decodes one level of escaping; more than 16 levels is an attack, not a feed.
_MAX_PASSES = 16

_PUNCT = {
    **dict.fromkeys("\u2019\u2018\u201b\u02bc`\u00b4\u2032", "'"),
    **dict.fromkeys("\u00ab\u00bb\u201c\u201d\u201e\u201f\u2039\u203a", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212-", " "),
    # Ligatures that Unicode does not decompose: "mise en œuvre" is written "oeuvre" too.
    "\u0153": "oe",
    "\u00e6": "ae",
}
_ARABIC = {
    **dict.fromkeys("\u0623\u0625\u0622\u0671", "\u0627"),  # أ إ آ ٱ -> ا
    "\u0649": "\u064a",  # ى -> ي
    "\u0629": "\u0647",  # ة -> ه
    "\u0624": "\u0648",  # ؤ -> و
    "\u0626": "\u064a",  # ئ -> ي
    "\u0640": "",  # tatweel
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
}
# Tashkeel and Quranic marks; most are combining anyway, but 06E5/06E6/06DD/06DE are not.
_ARABIC_MARKS = frozenset([*range(0x064B, 0x0660), 0x0670, *range(0x06D6, 0x06EE)])


def _fold_char_once(ch: str) -> str:
    if ch in _PUNCT:
        return _PUNCT[ch]
    # NFKC before casefold (presentation forms, fullwidth), NFKD after: casefold can emit
    # precomposed or compatibility characters again.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch).casefold())
    return "".join(_fold_decomposed(c) for c in decomposed)


def _fold_decomposed(c: str) -> str:
    if c in _PUNCT:
        return _PUNCT[c]
    if c in _ARABIC:
        return _ARABIC[c]
    if ord(c) in _ARABIC_MARKS or unicodedata.combining(c):
        return ""
    if c.isspace():
        return " "
    # Invisible format characters (soft hyphen, ZWJ/ZWNJ, bidi marks, BOM) would split words.
    if unicodedata.category(c) == "Cf":
        return ""
    return c


def _fold_char(ch: str) -> str:
    """Fold one code point to a value that folds to itself (so normalize is idempotent)."""
    out = _fold_char_once(ch)
    for _ in range(4):
        again = "".join(_fold_char_once(c) for c in out)
        if again == out:
            break
        out = again
    return out


class _FoldTable(dict[int, str]):
    """str.translate table computed on first sight of each code point, then cached."""

    def __missing__(self, cp: int) -> str:
        value = _fold_char(chr(cp))
        if len(self) < _CACHE_LIMIT:
            self[cp] = value
        return value


_TABLE = _FoldTable()
for _cp in [*range(0x0250), *range(0x0600, 0x0700), *range(0x2000, 0x2070)]:
    _TABLE[_cp] = _fold_char(chr(_cp))


def _fold(text: str) -> str:
    # NFC only matters for scripts whose letters compose without marks (Hangul jamo).
    out = unicodedata.normalize("NFC", _translate(html.unescape(text)))
    return _SPACES_RE.sub(" ", out).strip(" ")


def normalize(text: str) -> str:
    """Fold text for indexing and matching: case, accents, Arabic variants, punctuation, spaces."""
    out = _fold(text)
    # Feeds double-escape (``&amp;#8217;``): decode until no entity is left (up to 16 rounds).
    for _ in range(_MAX_PASSES):
        if "&" not in out or html.unescape(out) == out:
            break
        out = _fold(out)
    return out


def tokens(text: str) -> list[str]:
    """Normalized words of text: runs of letters/digits in any script."""
    return WORD_RE.findall(normalize(text))


# --- the same, keeping offsets --------------------------------------------------------------


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Return ``(normalize(text), offsets)``, mapping each output character to its source.

    Contract: ``len(offsets) == len(out) + 1`` and ``offsets[-1] == len(text)``; for
    ``i < len(out)``, ``offsets[i]`` is the index in ``text`` of the character that produced
    ``out[i]``: an HTML entity maps to the index of its ``&``, a collapsed whitespace run to
    its first character, a character that expands (``ﬁ``, ``½``) maps all its output to its
    own index. Offsets never decrease. ``original_span`` turns an output range into a text range.
    """
    out, offsets = offsets_array(text)
    return out, offsets.tolist()


def offsets_array(text: str) -> tuple[str, np.ndarray]:
    """``normalize_with_offsets`` with the offsets as a numpy array: the matcher reads a few of them,
    and turning thousands into a Python list would cost more than the folding."""
    out, offsets = _fold_with_offsets(text)
    for _ in range(_MAX_PASSES):
        if "&" not in out or html.unescape(out) == out:
            break
        again, inner = _fold_with_offsets(out)
        out, offsets = again, np.append(offsets[inner[:-1]], len(text))
    return out, offsets


def original_span(offsets: Sequence[int] | np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Map the output range [start, end) back to a half-open range of the original text.

    The range starts at the source of ``out[start]`` and ends where the source of the next
    output character begins, so it also covers what normalisation dropped right after the
    match (harakat, tatweel, the rest of an entity, stripped trailing whitespace).
    """
    if start >= end:
        return int(offsets[start]), int(offsets[start])
    # Offsets never decrease: the next source is the first offset beyond the last one matched.
    return int(offsets[start]), int(offsets[bisect.bisect_right(offsets, offsets[end - 1])])


def _fold_with_offsets(text: str) -> tuple[str, np.ndarray]:
    if "&" in text:
        decoded, src = _unescape_with_offsets(text)
        sources = np.asarray(src, dtype=np.int64)
    else:
        decoded, sources = text, None
    # Vectorised: this runs on every matched article, where Python loops per character cost most.
    codes = _code_points(decoded)
    lengths = _fold_lengths(codes)
    folded = _folded(decoded, codes, lengths)
    where = np.repeat(np.arange(len(decoded)) if sources is None else sources, lengths)
    composed, where = _nfc_with_offsets(folded, where)
    return _collapse_with_offsets(composed, np.asarray(where, dtype=np.int64), len(text))


# Per code point, the length of its fold plus one (0: not looked up yet), and the folded code point
# when the fold is one character: the table above as arrays, filled as characters are first seen.
# np.zeros maps pages lazily, so only the pages of scripts actually met take memory.
_LENGTH = np.zeros(0x110000, dtype=np.uint16)
_SINGLE = np.zeros(0x110000, dtype=np.uint32)


# From about 300 characters on, numpy's fixed cost is smaller than str.translate's dict lookups.
_VECTOR_FROM = 300


def _translate(text: str) -> str:
    """``text.translate(_TABLE)``, vectorised for long texts."""
    if len(text) < _VECTOR_FROM:
        return text.translate(_TABLE)
    codes = _code_points(text)
    return _folded(text, codes, _fold_lengths(codes))


def _folded(text: str, codes: np.ndarray, lengths: np.ndarray) -> str:
    if np.any(lengths > 1):  # œ, ligatures, ½: the table's strings, joined by translate
        return text.translate(_TABLE)
    return _SINGLE[codes[lengths == 1]].tobytes().decode("utf-32-le", "surrogatepass")


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _fold_lengths(codes: np.ndarray) -> np.ndarray:
    """How many characters each code point folds to."""
    lengths = _LENGTH[codes]
    if not lengths.all():
        for cp in np.unique(codes[lengths == 0]).tolist():
            value = _TABLE[cp]
            _LENGTH[cp] = len(value) + 1
            if len(value) == 1:
                _SINGLE[cp] = ord(value)
        lengths = _LENGTH[codes]
    return lengths.astype(np.int64) - 1


def _unescape_with_offsets(text: str) -> tuple[str, list[int]]:
    parts: list[str] = []
    src: list[int] = []
    pos = 0
    for m in _ENTITY_RE.finditer(text):
        parts.append(text[pos : m.start()])
        src.extend(range(pos, m.start()))
        decoded = html.unescape(m.group())
        # A legacy entity without ';' ("&notit") decodes a prefix and keeps the rest verbatim.
        keep = _literal_tail(m.group(), decoded)
        parts.append(decoded)
        src.extend([m.start()] * (len(decoded) - keep))
        src.extend(range(m.end() - keep, m.end()))
        pos = m.end()
    parts.append(text[pos:])
    src.extend(range(pos, len(text)))
    return "".join(parts), src


def _literal_tail(raw: str, decoded: str) -> int:
    if decoded == raw:
        return len(raw)
    for head in range(1, len(decoded)):
        if raw.endswith(decoded[head:]):
            return len(decoded) - head
    return 0


def _nfc_with_offsets(folded: str, where: list[int]) -> tuple[str, list[int]]:
    composed = unicodedata.normalize("NFC", folded)
    if composed == folded:
        return folded, where
    # Marks are gone, so NFC only merges runs of starters (Hangul L+V+T): align greedily.
    out: list[int] = []
    j = 0
    for ch in composed:
        k = j + 1
        while k < len(folded) and unicodedata.normalize("NFC", folded[j:k]) != ch:
            k += 1
        out.append(where[j])
        j = k
    return composed, out


def _collapse_with_offsets(folded: str, where: np.ndarray, size: int) -> tuple[str, np.ndarray]:
    # As _SPACES_RE and strip(" ") do: keep a space only after a non-space, then drop a final one.
    codes = np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    space = codes == 32
    keep = np.flatnonzero(~(space & np.concatenate(([True], space[:-1]))))
    if keep.size and space[keep[-1]]:
        keep = keep[:-1]
    return codes[keep].tobytes().decode("utf-32-le", "surrogatepass"), np.append(where[keep], size)
