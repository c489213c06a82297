"""Article language: detected from the text when it is long enough, else declared, else the source's."""

from __future__ import annotations

import pytest

from crawler.extract.language import choose_language, detect_language, normalise_code

# Leads written for this test in the style of Hespress FR, thevoice.ma and Morocco World News.
FR = "Le Maroc accélère la mise en place de sa stratégie nationale pour le numérique à l'horizon 2030."
AR = "أعلنت وزارة الانتقال الرقمي وإصلاح الإدارة عن إطلاق برنامج جديد لدعم الشركات الناشئة في المغرب."
EN = "Morocco has launched a new national strategy to train young people in artificial intelligence."
ES = (
    "Marruecos ha lanzado una nueva estrategia nacional para formar a los jóvenes en inteligencia artificial."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FR, "fr"),
        (AR, "ar"),
        (EN, "en"),
        (ES, "es"),
        (f"{AR} ChatGPT OpenAI", "ar"),  # Latin names quoted in Arabic text
        (f"{FR} (الذكاء الاصطناعي)", "fr"),  # an Arabic phrase quoted in French text
        ("Rabat, 12 mai", None),  # too short to tell
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "declared", "source", "expected"),
    [
        (AR, ["en-US"], ("fr",), "ar"),  # the page says English, the text is Arabic
        (EN, ["fr"], ("fr",), "en"),  # an English item in a French feed
        ("Brève", [None, "fr_MA"], ("ar",), "fr"),  # too short: the first declared language
        ("Brève", [None, ""], ("ar", "fr"), "ar"),  # nothing declared: the source's first language
        ("Brève", [], (), None),
    ],
)
def test_choose_language(text: str, declared: list, source: tuple, expected: str | None) -> None:
    assert choose_language(text, declared, source) == expected


def test_normalise_code() -> None:
    assert [normalise_code(c) for c in ("fr-FR", "fr_MA", "AR", " en ", "", None)] == [
        "fr",
        "fr",
        "ar",
        "en",
        None,
        None,
    ]
