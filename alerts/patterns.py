"""Compiling topics for the matcher: the automaton keys with their word boundaries and clitics.

Every term becomes " term " (" term" for a prefix) so that each automaton hit already stands on word
boundaries in a text whose non-word characters are spaces; an Arabic term (and an acronym or a number,
which Arabic text also prefixes: الـ5G) gets one key per clitic prefix it may carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import ahocorasick

from alerts.topics import FIELDS, Term, Topic

ARABIC_LETTERS = range(0x0621, 0x064B)
# Proclitics an Arabic word may carry: conjunction, then preposition, then the article.
CLITICS = tuple(c + p + a for c in ("", "و", "ف") for p in ("", "ب", "ك", "ل") for a in ("", "ال")
                if not (p == "ل" and a == "ال"))  # ل + ال is written لل, handled below
CLITICS_BEFORE_AL = tuple(c + p for c in ("", "و", "ف") for p in ("", "ب", "ك"))
CLITICS_BEFORE_LL = ("", "و", "ف")


class _ScanTable(dict):
    """str.translate table: letters and digits stay, everything else becomes a space (one for one)."""

    def __missing__(self, code: int) -> int:
        self[code] = code if chr(code).isalnum() else 32
        return self[code]


SCAN_TABLE = _ScanTable()
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
    none = tuple(ids[t] for t in topic.none)
    positive = tuple(dict.fromkeys(ids[t] for t in topic.any + topic.all if ids[t] not in none))
    return Plan(simple=topic.query is None and set(topic.fields) == set(FIELDS),
                 any=tuple(ids[t] for t in topic.any), all=tuple(ids[t] for t in topic.all),
                 none=none, positive=positive)


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
    if is_arabic(term.norm) and term.norm.startswith("ال") and len(term.norm) > 3:
        # ل + الذكاء is written للذكاء: the hit covers للذكاء, the clitic before it is و or ف.
        forms += [(clitic, clitic + "ل" + term.norm[1:]) for clitic in CLITICS_BEFORE_LL]
    return [(f" {form}{trail}", len(clitic), len(trail)) for clitic, form in forms]


def clitics_of(term: Term) -> tuple[str, ...]:
    if is_arabic(term.norm):
        return CLITICS_BEFORE_AL if term.norm.startswith("ال") else CLITICS
    # Arabic text attaches its clitics to acronyms and numbers too: الـ5G, بالـAI.
    if term.exact_case or term.norm[:1].isdigit():
        return CLITICS
    return ("",)


def is_arabic(text: str) -> bool:
    return bool(text) and ord(text[0]) in ARABIC_LETTERS
