"""Compiling topics for the matcher: the automaton keys with their word boundaries and clitics.

Every term becomes " term " (" term" for a prefix) so that each automaton hit already stands on word
boundaries in a text whose non-word characters are spaces; an Arabic term (and an acronym or a number,
which Arabic text also prefixes: الـ5G) gets one key per clitic prefix it may carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick

from crawler.config.topics import FIELDS, Term, Topic

ARABIC_LETTERS = range(0x0621, 0x064B)
# Proclitics an Arabic word may carry: conjunction, then preposition, then the article.
CLITICS = tuple(
    c + p + a
    for c in ("", "و", "ف")
    for p in ("", "ب", "ك", "ل")
    for a in ("", "ال")
    if not (p == "ل" and a == "ال")
)  # ل + ال is written لل, handled below
CLITICS_BEFORE_AL = tuple(c + p for c in ("", "و", "ف") for p in ("", "ب", "ك"))
CLITICS_BEFORE_LL = ("", "و", "ف")


# What the scan blanks before the automaton runs, one character for one: everything but letters,
# digits and spaces (\w is isalnum() plus the underscore). A regex, not str.translate: most
# characters stay, and translate looks every one of them up.
NOT_ALNUM = re.compile(r"[^\w ]|_")
DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


@dataclass(frozen=True)
class Plan:
    """A topic's terms as ids, and whether set lookups alone decide it."""

    simple: bool
    any: tuple[int, ...]
    all: tuple[int, ...]
    none: tuple[int, ...]
    positive: tuple[int, ...]


def make_plan(topic: Topic, ids: dict[Term, int]) -> Plan:
    """A topic's lists as distinct term ids (a term listed twice counts once)."""

    def distinct(terms: tuple[Term, ...]) -> tuple[int, ...]:
        return tuple(dict.fromkeys(ids[t] for t in terms))

    return Plan(
        simple=topic.query is None and set(topic.fields) == set(FIELDS),
        any=distinct(topic.any),
        all=distinct(topic.all),
        none=distinct(topic.none),
        positive=distinct(topic.positive_terms()),
    )


def build_automaton(patterns: dict[str, tuple]) -> ahocorasick.Automaton | None:
    if not patterns:
        return None
    automaton = ahocorasick.Automaton()
    for key, value in patterns.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return automaton


def bounded_keys(term: Term) -> list[tuple[str, int, int]]:
    """(" clitic+term ", clitic length, trailing boundary length) for each form the term may take."""
    trail = "" if term.prefix else " "
    forms = [(clitic, clitic + term.norm) for clitic in clitics_of(term)]
    if term.norm.startswith("ال") and len(term.norm) > 3:
        # ل + الذكاء is written للذكاء, and ل + اللغة للغة (no third lam): the hit covers it.
        word = term.norm[2:]
        contracted = ("ل" if word.startswith("ل") else "لل") + word
        forms += [(clitic, clitic + contracted) for clitic in CLITICS_BEFORE_LL]
    elif is_arabic(term.norm):
        forms += [(clitic, clitic + "لل" + term.norm) for clitic in CLITICS_BEFORE_LL]
    return [(f" {form}{trail}", len(clitic), len(trail)) for clitic, form in forms]


def clitics_of(term: Term) -> tuple[str, ...]:
    """The clitic prefixes a term may carry. Arabic text attaches them to the names, brands and
    numbers it quotes in Latin letters too (بـChatGPT, الـ5G): so do terms written with a capital or a
    digit. Lowercase Latin phrases get none, which keeps the automaton small."""
    if is_arabic(term.norm):
        return CLITICS_BEFORE_AL if term.norm.startswith("ال") else CLITICS
    if any(c.isupper() or c.isdigit() for c in term.text):
        return CLITICS
    return ("",)


def is_arabic(text: str) -> bool:
    return bool(text) and ord(text[0]) in ARABIC_LETTERS
