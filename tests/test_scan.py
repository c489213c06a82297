"""The matcher's scan blanks exactly the characters that are neither letters, digits nor spaces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alerts.patterns import NOT_ALNUM


@given(st.text())
def test_the_scan_keeps_letters_and_digits_and_blanks_the_rest_one_for_one(text: str) -> None:
    expected = "".join(c if c.isalnum() or c == " " else " " for c in text)
    assert NOT_ALNUM.sub(" ", text) == expected


def test_the_scan_on_moroccan_text() -> None:
    assert NOT_ALNUM.sub(" ", "l'ia، «الذكاء» (5g)_x ٣") == "l ia   الذكاء   5g  x ٣"
