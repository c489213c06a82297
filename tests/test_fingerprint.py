"""SimHash near-duplicates on real articles, LSH bands, content hash, SQLite round trip."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.fingerprint import bands, content_hash, from_signed, hamming, simhash, to_signed
from crawler.normalize import tokens

# Third-party copy of thevoice.ma articles (Sept-Oct 2025); origin in tests/fixtures/realdata/README.md.
ARTICLES = Path(__file__).parent / "fixtures" / "realdata" / "thevoice_articles.json"
# The Hespress WordPress footer from realdata/prospect-rss-feeds/hespress.xml.
FOOTER = (
    "The post جيهان خليل تطل من مسلسل مصري appeared first on Hespress - "
    "هسبريس جريدة إلكترونية مغربية."
)
SENTENCE = "وأضاف المصدر ذاته أن التحقيق ما يزال جاريا لمعرفة ملابسات الحادث."


@pytest.fixture(scope="module")
def bodies() -> dict[str, str]:
    articles = json.loads(ARTICLES.read_text("utf-8"))
    return {a["title"]: a["content"] for a in articles if len(tokens(a["content"])) >= 150}


def _replace_a_sentence(body: str) -> str:
    """Replace the sentence closest to 20 words, as an editor rewording one line would."""
    sentences = re.split(r"(?<=[.!؟?])\s+", body)
    k = min(range(len(sentences)), key=lambda i: abs(len(tokens(sentences[i])) - 20))
    return " ".join([*sentences[:k], SENTENCE, *sentences[k + 1 :]])


def test_empty_or_wordless_text_is_zero() -> None:
    assert simhash("") == 0
    assert simhash(" … — « » ") == 0


def test_short_texts_still_get_a_fingerprint() -> None:
    assert simhash("Maroc") != 0
    assert simhash("Maroc", shingle=3) == simhash("maroc", shingle=1)


def test_typography_and_spelling_variants_give_the_same_fingerprint(
    bodies: dict[str, str],
) -> None:
    body = bodies["جنازة الزفزافي.. تشييع اليأس"]
    variant = (
        body.replace("“", "&laquo;")
        .replace("”", "&raquo;")
        .replace(" ", "\u00a0 ")
        .replace("إ", "ا")
        .replace("ة", "ه")
        .replace("ى", "ي")
    )
    assert simhash(variant) == simhash(body)


@pytest.mark.parametrize(
    "title",
    [
        "جنازة الزفزافي.. تشييع اليأس",  # 1,244 words
        "برنامج “المثمر”.. خارطة طريق لإدماج النساء القرويات في التنمية الزراعية",  # 1,094
    ],
)
def test_long_article_copies_are_within_3_bits(bodies: dict[str, str], title: str) -> None:
    body = bodies[title]
    assert hamming(simhash(body), simhash(body + "\n" + FOOTER)) <= 3
    assert hamming(simhash(body), simhash(_replace_a_sentence(body))) <= 3


def test_every_real_copy_is_nearer_its_original_than_any_other_article(
    bodies: dict[str, str],
) -> None:
    # Measured on the 67 articles of 150-1,244 words: a footer moves the fingerprint by
    # 4 bits (median, max 12), a reworded sentence by 7 (max 18); distinct articles of the
    # same week and topic are 15 bits apart or more. Short articles move most.
    fps = {title: simhash(body) for title, body in bodies.items()}
    footer, sentence = [], []
    for title, body in bodies.items():
        nearest_other = min(hamming(fps[title], fp) for t, fp in fps.items() if t != title)
        footer.append(hamming(fps[title], simhash(body + " " + FOOTER)))
        sentence.append(hamming(fps[title], simhash(_replace_a_sentence(body))))
        assert footer[-1] < nearest_other, title
        assert sentence[-1] < nearest_other, title
    assert sorted(footer)[len(footer) // 2] <= 5
    assert max(footer) <= 12
    assert sorted(sentence)[len(sentence) // 2] <= 8


def test_unrelated_articles_are_far_apart(bodies: dict[str, str]) -> None:
    fps = [simhash(body) for body in bodies.values()]
    assert min(hamming(a, b) for a, b in itertools.combinations(fps, 2)) > 10


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, (1 << 64) - 1) == 64


fingerprints = st.integers(min_value=0, max_value=(1 << 64) - 1)


@settings(max_examples=200, deadline=None)
@given(fingerprints, st.sampled_from([1, 2, 4, 8, 16]), st.data())
def test_bands_share_one_value_below_n_bits(fp: int, n: int, data: st.DataObject) -> None:
    flips = data.draw(st.sets(st.integers(0, 63), max_size=n - 1))
    other = fp ^ sum(1 << bit for bit in flips)
    mine, theirs = bands(fp, n), bands(other, n)
    assert len(mine) == n
    assert any(a == b for a, b in zip(mine, theirs, strict=True))
    width = 64 // n
    assert sum(value << (i * width) for i, value in enumerate(mine)) == fp


def test_bands_rejects_uneven_split() -> None:
    with pytest.raises(ValueError):
        bands(1, 3)


@settings(max_examples=200, deadline=None)
@given(fingerprints)
def test_signed_round_trip_through_sqlite(fp: int) -> None:
    signed = to_signed(fp)
    assert -(1 << 63) <= signed < 1 << 63
    assert from_signed(signed) == fp
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE t (v INTEGER)")
        db.execute("INSERT INTO t VALUES (?)", [signed])
        assert from_signed(db.execute("SELECT v FROM t").fetchone()[0]) == fp


def test_signed_edges() -> None:
    assert to_signed((1 << 64) - 1) == -1
    assert to_signed(1 << 63) == -(1 << 63)
    assert to_signed((1 << 63) - 1) == (1 << 63) - 1


def test_content_hash() -> None:
    assert content_hash("a", None, "b") == content_hash("a", "", "b")
    assert content_hash("ab", "c") != content_hash("a", "bc")
    assert content_hash("titre", "corps") != content_hash("titre", "corps modifié")
    assert re.fullmatch(r"[0-9a-f]{40}", content_hash())
