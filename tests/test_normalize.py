"""normalize(): the YAML table, offsets back to the original text, and properties."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.extract.normalize import (
    _TABLE,
    WORD_RE,
    _translate,
    normalize,
    normalize_with_offsets,
    offsets_array,
    original_span,
    tokens,
)

TABLE = yaml.safe_load((Path(__file__).parent / "tables" / "normalize.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", TABLE, ids=[c["text"][:40] or "<empty>" for c in TABLE])
def test_table(case: dict[str, str]) -> None:
    assert normalize(case["text"]) == case["expected"]
    assert normalize_with_offsets(case["text"])[0] == case["expected"]


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'ia", ["l", "ia"]),
        ("L’IA-générative", ["l", "ia", "generative"]),
        ("الذكاء الإصطناعيّ، اليوم", ["الذكاء", "الاصطناعي", "اليوم"]),
        ("R&D, snake_case, ١٥ ans", ["r", "d", "snake", "case", "15", "ans"]),
        ("", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def _highlight(text: str, word: str) -> str:
    out, offsets = normalize_with_offsets(text)
    start = out.index(word)
    s, e = original_span(offsets, start, start + len(word))
    return text[s:e]


@pytest.mark.parametrize(
    ("text", "word", "span"),
    [
        ("Un café à Fès", "cafe", "café"),
        ("Un cafe\u0301 à Fès", "cafe", "cafe\u0301"),  # decomposed accent stays with its letter
        ("Caf&eacute; de l&#8217;IA !", "cafe", "Caf&eacute;"),
        ("Caf&eacute; de l&#8217;IA !", "l'ia", "l&#8217;IA"),
        ("في الْعَرَبِيّةُ اليوم", "العربيه", "الْعَرَبِيّةُ"),
        ("التعاونيـــة", "التعاونيه", "التعاونيـــة"),
        ("ﺍﻻﻧﺘﺨﺎﺑﺎﺕ", "الانتخابات", "ﺍﻻﻧﺘﺨﺎﺑﺎﺕ"),
        ("Rabat\u00a0:\n\n  Casablanca", "rabat : casablanca", "Rabat\u00a0:\n\n  Casablanca"),
    ],
)
def test_original_span(text: str, word: str, span: str) -> None:
    assert _highlight(text, word) == span


def test_offsets_contract_on_an_entity() -> None:
    out, offsets = normalize_with_offsets("a &amp; b")
    assert out == "a & b"
    assert offsets == [0, 1, 2, 7, 8, 9]
    assert original_span(offsets, 2, 3) == (2, 7)
    assert original_span(offsets, 2, 2) == (2, 2)


def test_expanding_character_maps_every_output_char_to_itself() -> None:
    out, offsets = normalize_with_offsets("x ½")
    assert out == "x 1\u20442"
    assert offsets == [0, 1, 2, 2, 2, 3]
    assert original_span(offsets, 2, 3) == (2, 3)


# --- properties ---------------------------------------------------------------------------

_LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ACCENTED = "éèêëàâäçîïôöûùüÿœæÉÈÊÀÂÇÎÔÛŒßﬁＡ\u0301\u0300\u0308"
_ARABIC = (
    "ءآأؤإئابةتثجحخدذرزسشصضطظعغفقكلمنهوىي"
    "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0640ٱ٠١٢٣٤٥٦٧٨٩۰۵۹ﻻﻷﺍﺕﻧ"
)
_SPACES = " \u00a0\u202f\u2009\t\n\r\u200e\u200f\u200b\u00ad"
_PUNCT = ".,;:!?'\"«»’‘ʼ`´“”„–—‐-()/&#،؛؟…"
_ENTITIES = ["&amp;", "&eacute;", "&#8217;", "&nbsp;", "&lt", "&#x627;", "&amp;#8217;", "&laquo;"]

_ALPHABET = _LATIN + _ACCENTED + _ARABIC + _SPACES + _PUNCT
mixed_text = st.lists(
    st.one_of(st.text(_ALPHABET, max_size=12), st.sampled_from(_ENTITIES)), max_size=12
).map("".join)
any_text = st.one_of(mixed_text, st.text(max_size=40))


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_offsets_version_gives_the_same_string(text: str) -> None:
    out, offsets = normalize_with_offsets(text)
    assert out == normalize(text)
    assert len(offsets) == len(out) + 1
    assert offsets[-1] == len(text)
    assert all(0 <= o < len(text) for o in offsets[:-1])
    assert all(a <= b for a, b in itertools.pairwise(offsets))


@settings(max_examples=300, deadline=None)
@given(mixed_text)
def test_token_spans_normalize_back_to_the_token(text: str) -> None:
    out, offsets = normalize_with_offsets(text)
    for m in WORD_RE.finditer(out):
        s, e = original_span(offsets, m.start(), m.end())
        assert normalize(text[s:e]) == m.group()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_token_spans_contain_the_token_for_any_text(text: str) -> None:
    # One character may expand into several words (½, ﷺ): its span then holds them all.
    out, offsets = normalize_with_offsets(text)
    for m in WORD_RE.finditer(out):
        s, e = original_span(offsets, m.start(), m.end())
        assert m.group() in normalize(text[s:e])


def _long(text: str) -> str:
    """The text repeated past the length from which folding is vectorised."""
    return (text + " ") * (400 // (len(text) + 1) + 1)


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_long_texts_fold_exactly_as_the_table_says(text: str) -> None:
    long = _long(text)
    assert _translate(long) == long.translate(_TABLE)
    out, offsets = normalize_with_offsets(long)
    assert out == normalize(long) == normalize(out)
    assert len(offsets) == len(out) + 1 and offsets[-1] == len(long)
    assert all(a <= b for a, b in itertools.pairwise(offsets))
    assert offsets_array(long)[1].tolist() == offsets


@pytest.mark.parametrize("text", ["\ud800 x", "🙂 l\u2019IA", "cœur ﬁn ½", "ﷺ", "&amp;eacute; é", "한국어"])
def test_long_texts_with_rare_characters_keep_the_contract(text: str) -> None:
    long = _long(text)
    out, offsets = normalize_with_offsets(long)
    assert _translate(long) == long.translate(_TABLE)
    assert out == normalize(long) and len(offsets) == len(out) + 1
    for m in WORD_RE.finditer(out):
        s, e = original_span(offsets, m.start(), m.end())
        assert m.group() in normalize(long[s:e])
