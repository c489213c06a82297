"""Article language: declared hints checked against the text (fr, ar, en and a few more)."""

from __future__ import annotations

import re
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

KNOWN = ("fr", "ar", "en", "es")
ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
MIN_TEXT = 30


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(KNOWN))
    return identifier


def detect_language(text: str) -> str | None:
    """The language of a text among KNOWN, or None when it is too short to tell."""
    sample = text[:2000]
    arabic, latin = len(ARABIC.findall(sample)), len(LATIN.findall(sample))
    if arabic + latin < MIN_TEXT:
        return None
    # The script settles Arabic cheaply and reliably; the model only separates Latin languages.
    if arabic > latin:
        return "ar"
    lang, _score = _identifier().classify(sample)
    return lang if lang != "ar" else None


def normalise_code(code: str | None) -> str | None:
    """'fr-FR', 'fr_MA' or 'FR' as 'fr'; None for empty."""
    if not code:
        return None
    return re.split(r"[-_]", code.strip().lower())[0] or None


def choose_language(text: str, declared: list[str | None], source_languages: tuple[str, ...]) -> str | None:
    """Detected language when the text is long enough, else the first declared one, else the source's."""
    detected = detect_language(text)
    if detected:
        return detected
    for code in map(normalise_code, declared):
        if code:
            return code
    return source_languages[0] if source_languages else None
