"""Table-driven tests for crawler.config.query: parsing, errors, evaluation, satisfiability, rendering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.config.query import (
    And,
    Hit,
    Near,
    Node,
    Not,
    Or,
    TermRef,
    evaluate,
    parse_query,
    query_terms,
    render,
    satisfiable,
    witnesses,
)
from crawler.exceptions import QueryError


def w(text: str, **kwargs: object) -> TermRef:
    """A plain word term."""
    return TermRef(text, **kwargs)  # type: ignore[arg-type]


def p(text: str, field: str | None = None) -> TermRef:
    """A quoted phrase term."""
    return TermRef(text, field=field, phrase=True)


IA, AI, IAM = w("IA"), w("AI"), w("IAM")
a, b, c, d, x = w("a"), w("b"), w("c"), w("d"), w("x")

VALID: list[tuple[str, Node]] = [
    ("IA", IA),
    ('IA OR "intelligence artificielle"', Or((IA, p("intelligence artificielle")))),
    ("(IA OR AI) AND NOT IAM", And((Or((IA, AI)), Not(IAM)))),
    ("souverain* NEAR/5 numérique", Near(w("souverain", prefix=True), w("numérique"), 5)),
    ("title:Jazari", w("Jazari", field="title")),
    ("الذكاء NEAR/3 الاصطناعي", Near(w("الذكاء"), w("الاصطناعي"), 3)),
    ("Maroc IA", And((w("Maroc"), IA))),
    ("Maroc AND IA AND AI", And((w("Maroc"), IA, AI))),
    ("chat or chien", And((w("chat"), w("or"), w("chien")))),
    ("NEARBY and not near", And((w("NEARBY"), w("and"), w("not"), w("near")))),
    ("l'IA Al-Jazari", And((w("l'IA"), w("Al-Jazari")))),
    ("((IA))", IA),
    ("(IA OR (AI AND ML)) OR robot", Or((IA, And((AI, w("ML"))), w("robot")))),
    ("(a OR b) OR (c OR d)", Or((a, b, c, d))),
    ("(a b) (c d)", And((a, b, c, d))),
    ("a OR b c", Or((a, And((b, c))))),
    ("NOT a b", And((Not(a), b))),
    ("NOT a OR b", Or((Not(a), b))),
    ("NOT NOT a", Not(Not(a))),
    ("a NOT b", And((a, Not(b)))),
    ("NOT a NEAR/2 b", Not(Near(a, b, 2))),
    ("NOT (a OR b)", Not(Or((a, b)))),
    ("a NEAR/1 b NEAR/2 c", And((Near(a, b, 1), Near(b, c, 2)))),
    ("x a NEAR/1 b NEAR/2 c", And((x, Near(a, b, 1), Near(b, c, 2)))),
    ("a NEAR/50 b OR c NEAR/1 d", Or((Near(a, b, 50), Near(c, d, 1)))),
    ("a NEAR/٥ b", Near(a, b, 5)),
    ("«intelligence artificielle»", p("intelligence artificielle")),
    ("« cloud\u00a0 souverain »", p("cloud souverain")),
    ("“Banque  mondiale”", p("Banque mondiale")),
    ('summary:"Banque mondiale"', p("Banque mondiale", field="summary")),
    ("body:souverain*", w("souverain", prefix=True, field="body")),
    ('title:"IA" OR body:IA', Or((p("IA", field="title"), w("IA", field="body")))),
    ('title:Jazari NEAR/4 "robot automate"', Near(w("Jazari", field="title"), p("robot automate"), 4)),
    ('"OR" "NEAR"', And((p("OR"), p("NEAR")))),
    ("AND*", w("AND", prefix=True)),
    ("title:AND", w("AND", field="title")),
    ("12:30 COP22", And((w("12:30"), w("COP22")))),
    ("(IA)NOT(IAM)", And((IA, Not(IAM)))),
    ("  IA\tOR\nAI  ", Or((IA, AI))),
    ("المغرب OR Maroc OR Morocco", Or((w("المغرب"), w("Maroc"), w("Morocco")))),
    ("الذكاء الاصطناعي", And((w("الذكاء"), w("الاصطناعي")))),
    ("Lekjaa OR لقجع", Or((w("Lekjaa"), w("لقجع")))),
]

INVALID: list[tuple[str, str, int]] = [
    ("", "empty query", 1),
    ("   ", "empty query", 1),
    ("(IA OR AI", "'(' is never closed", 1),
    ("IA ((AI)", "'(' is never closed", 4),
    ("IA (", "'(' is never closed", 4),
    ("IA OR AI)", "')' has no matching '('", 9),
    (") IA", "')' has no matching '('", 1),
    ("IA) OR (AI", "')' has no matching '('", 3),
    ("IA ()", "empty parentheses", 4),
    ('"intelligence artificielle', "quote is never closed", 1),
    ("IA «IA", "quote is never closed", 4),
    ('IA ""', "empty phrase", 4),
    ("IA « »", "empty phrase", 4),
    ("IA NOT", "NOT needs a term after it", 4),
    ("NOT", "NOT needs a term after it", 1),
    ("a NOT OR b", "NOT needs a term after it", 3),
    ("(NOT) a", "NOT needs a term after it", 2),
    ("OR IA", "OR needs a term on both sides", 1),
    ("IA OR", "OR needs a term on both sides", 4),
    ("IA OR OR AI", "OR needs a term on both sides", 4),
    ("(IA OR) AI", "OR needs a term on both sides", 5),
    ("IA AND OR AI", "AND needs a term on both sides", 4),
    ("AND IA", "AND needs a term on both sides", 1),
    ("IA NEAR AI", "NEAR needs a distance such as NEAR/5", 4),
    ("IA NEAR/ AI", "NEAR needs a distance such as NEAR/5", 4),
    ("IA NEAR/x AI", "NEAR needs a distance such as NEAR/5", 4),
    ("IA NEAR/0 AI", "NEAR distance must be between 1 and 50, not 0", 4),
    ("IA NEAR/51 AI", "NEAR distance must be between 1 and 50, not 51", 4),
    ("(IA OR AI) NEAR/3 Maroc", "NEAR joins two terms, not groups", 12),
    ("Maroc NEAR/3 (IA OR AI)", "NEAR joins two terms, not groups", 7),
    ("(IA) NEAR/3 Maroc", "NEAR joins two terms, not groups", 6),
    ("IA NEAR/3", "NEAR needs a term on both sides", 4),
    ("NEAR/3 IA", "NEAR needs a term on both sides", 1),
    ("IA NEAR/3 NOT AI", "NEAR needs a term on both sides", 4),
    ("titre:IA", "unknown field 'titre' (use title, summary or body)", 1),
    ("IA OR Title:IA", "unknown field 'Title' (use title, summary or body)", 7),
    ("title: IA", "'title:' needs a term right after the colon", 1),
    ("IA body:", "'body:' needs a term right after the colon", 4),
    ("title:(IA OR AI)", "'title:' applies to one term or phrase, not a group", 1),
    ("so*uverain", "'*' only works at the end of a word", 3),
    ("IA *souverain", "'*' only works at the end of a word", 4),
    ("title:souverain**", "'*' only works at the end of a word", 16),
    ("IA *", "'*' needs a word before it", 4),
    ('"cloud souverain"*', "'*' works on single words, not phrases", 18),
    ('IA "cloud* souverain"', "'*' does not work inside a phrase", 10),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[q for q, _ in VALID])
def test_parse_valid(text: str, expected: Node) -> None:
    node = parse_query(text)
    assert node == expected
    assert parse_query(render(node)) == node


@pytest.mark.parametrize(("text", "message", "column"), INVALID, ids=[q or "<empty>" for q, _, _ in INVALID])
def test_parse_invalid(text: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert (str(caught.value), caught.value.column) == (f"{message} at column {column}", column)


def test_tables_are_large_enough() -> None:
    assert len(VALID) >= 25 and len(INVALID) >= 15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(IA OR AI) AND NOT IAM", "(IA OR AI) AND NOT IAM"),
        ("IA AI", "IA AND AI"),
        ("« cloud souverain »", '"cloud souverain"'),
        ("NOT (a b) OR c", "NOT (a AND b) OR c"),
        ('title:souverain* NEAR/٣ body:"a b"', 'title:souverain* NEAR/3 body:"a b"'),
        ("a NEAR/1 b NEAR/2 c", "a NEAR/1 b AND b NEAR/2 c"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert render(parse_query(text)) == expected


def test_query_terms_distinct_in_order() -> None:
    node = parse_query('IA OR (title:IA "IA" souverain* NEAR/3 IA) NOT IA')
    assert query_terms(node) == [IA, w("IA", field="title"), p("IA"), w("souverain", prefix=True)]


class FakeMatcher:
    """Hits of a term in an article: case-folded words, prefixes, phrases, field restriction."""

    def __init__(self, article: dict[str, str]) -> None:
        self.article, self.calls = article, []

    def __call__(self, term: TermRef) -> list[Hit]:
        self.calls.append(term)
        found = []
        for field, text in self.article.items():
            if term.field not in (None, field):
                continue
            words, wanted = text.casefold().split(), term.text.casefold().split()
            for start in range(len(words) - len(wanted) + 1):
                window = words[start : start + len(wanted)]
                if window == wanted or (term.prefix and window[0].startswith(wanted[0])):
                    found.append(Hit(field, start, start + len(wanted) - 1))
        return found


ARTICLE = {
    "title": "Al-Jazari et l'IA au Maroc",
    "summary": "La souveraineté numérique du royaume",
    "body": "Le cloud souverain et la stratégie numérique 2030 du Maroc selon le ministère du numérique",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l'IA", True),
        ("IAM", False),
        ("title:Maroc", True),
        ("summary:Maroc", False),
        ("body:Maroc AND NOT summary:Maroc", True),
        ('IA OR "cloud souverain"', True),
        ('"souverain cloud"', False),
        ("(IAM OR AI) AND NOT Maroc", False),
        ("souverain* NEAR/1 numérique", True),  # summary: souveraineté numérique, adjacent
        ("numérique NEAR/1 souverain*", True),  # either order
        ("cloud NEAR/2 numérique", False),  # body: cloud souverain et la stratégie numérique: 4 between
        ("cloud NEAR/4 numérique", True),
        ('"cloud souverain" NEAR/3 numérique', True),  # phrase ends at word 2; 3 words between
        ('"cloud souverain" NEAR/2 numérique', False),
        ("Al-Jazari NEAR/50 souveraineté", False),  # different fields are never near
        ("souverain* NEAR/1 souveraineté", True),  # overlapping hits are at distance 0
        ("Maroc NEAR/1 Maroc", False),  # the single Maroc of a field does not pair with itself
        ("numérique NEAR/7 numérique", True),  # body has two, 7 words between them
        ("numérique NEAR/6 numérique", False),
        ("title:Maroc NEAR/50 body:Maroc", False),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert evaluate(parse_query(text), FakeMatcher(ARTICLE)) is expected


def test_evaluate_asks_each_term_once() -> None:
    hits = FakeMatcher(ARTICLE)
    assert evaluate(parse_query("(IA OR Maroc) Maroc NEAR/3 numérique NOT IAM NOT IAM"), hits)
    assert sorted(t.text for t in hits.calls) == ["IA", "IAM", "Maroc", "numérique"]


def test_evaluate_near_with_hand_made_hits() -> None:
    table = {a: [Hit("body", 10, 10)], b: [Hit("body", 13, 14), Hit("title", 0, 0)]}
    hits = table.__getitem__
    assert evaluate(Near(a, b, 2), hits) and evaluate(Near(b, a, 2), hits)
    assert not evaluate(Near(a, b, 1), hits)
    assert evaluate(Near(a, b, 1), {a: [Hit("body", 9, 12)], b: [Hit("body", 11, 11)]}.__getitem__)


def _shown(query: str) -> dict[str, list[tuple[str, int, int]]]:
    found = witnesses(parse_query(query), FakeMatcher(ARTICLE))
    return {ref.text: [(h.field, h.start, h.end) for h in hits] for ref, hits in found.items()}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Maroc", {"Maroc": [("title", 4, 4), ("body", 9, 9)]}),
        # Only the close pair of a NEAR: the body's Maroc (word 9) is 3 words from numérique (word 6),
        # the title's Maroc is in another field, and the last numérique (word 14) is too far.
        ("Maroc NEAR/3 numérique", {"Maroc": [("body", 9, 9)], "numérique": [("body", 6, 6)]}),
        ("IAM OR Maroc NEAR/3 numérique", {"Maroc": [("body", 9, 9)], "numérique": [("body", 6, 6)]}),
        ("Maroc NOT IAM", {"Maroc": [("title", 4, 4), ("body", 9, 9)]}),
        ("l'IA AND NOT (Maroc NEAR/50 IAM)", {"l'IA": [("title", 2, 2)]}),
        ("IAM OR Maroc NEAR/1 numérique", {}),  # the query does not hold
    ],
)
def test_witnesses_are_the_hits_that_make_the_query_hold(text: str, expected: dict) -> None:
    assert _shown(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a AND NOT a", False),
        ("a OR NOT a", True),
        ("NOT a", True),
        ("(a OR b) NOT a NOT b", False),
        ("(a OR b) NOT a", True),
        ("a NEAR/3 b NOT b", False),
        ("NOT (a NEAR/3 b) a b", True),  # both present but far apart
        ("a NEAR/3 b NOT (a NEAR/3 b)", True),  # the cost of that: a NEAR under NOT never counts as true
        ("NOT (a OR NOT (a NEAR/3 b))", False),  # NEAR under two NOTs is AND again
        ("NOT NOT a NOT a", False),
        ("title:a NOT a", True),  # distinct terms are independent
        ("(IA OR AI) AND NOT IAM", True),
        (" ".join(f"t{i}" for i in range(15)) + " NOT t14", False),
        (" ".join(f"t{i}" for i in range(16)) + " NOT (t0 t15)", False),
        (" ".join(f"t{i}" for i in range(17)) + " NOT t16", True),  # above 16 terms: assumed satisfiable
    ],
)
def test_satisfiable(text: str, expected: bool) -> None:
    assert satisfiable(parse_query(text)) is expected


WORDS = [
    "IA",
    "AI",
    "or",
    "and",
    "not",
    "near",
    "NEARBY",
    "l'IA",
    "Al-Jazari",
    "الذكاء",
    "numérique",
    "COP22",
    "12:30",
    "2030",
    "souveraineté",
]
QUOTE_PAIRS = [('"', '"'), ("“", "”"), ("«", "»"), ("« ", " »"), ("«\u00a0", "\u00a0»")]


@st.composite
def terms(draw: st.DrawFn) -> str:
    """A term as an admin might write it."""
    field = draw(st.sampled_from(["", "title:", "summary:", "body:"]))
    if draw(st.booleans()):
        opening, closing = draw(st.sampled_from(QUOTE_PAIRS))
        words = draw(
            st.lists(st.sampled_from(WORDS + ["AND", "OR", "NOT", "NEAR/2", "(x)"]), min_size=1, max_size=3)
        )
        return f"{field}{opening}{' '.join(words)}{closing}"
    return field + draw(st.sampled_from(WORDS)) + draw(st.sampled_from(["", "*"]))


NEARS = st.builds(lambda left, n, right: f"{left} NEAR/{n} {right}", terms(), st.integers(1, 50), terms())
QUERIES = st.recursive(
    terms() | NEARS,
    lambda inner: (
        st.builds(
            lambda left, op, right: f"{left}{op}{right}",
            inner,
            st.sampled_from([" ", " AND ", " OR ", "\tOR\n", "  "]),
            inner,
        )
        | st.builds(lambda item: f"NOT {item}", inner)
        | st.builds(lambda item: f"({item})", inner)
    ),
    max_leaves=8,
)


@settings(deadline=None, max_examples=150)
@given(QUERIES)
def test_render_round_trips(text: str) -> None:
    node = parse_query(text)
    assert parse_query(render(node)) == node
    assert satisfiable(node) in (True, False)


@settings(deadline=None, max_examples=150)
@given(
    st.lists(st.sampled_from([*'ab :*()"«»“”ANDORTNE/05', "title:", "AND", "OR", "NOT", "NEAR/3", " "])).map(
        "".join
    )
)
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        node = parse_query(text)
    except QueryError as error:
        assert 1 <= error.column <= len(text) + 1  # noqa: PT017 (a property: either outcome is checked)
    else:
        assert parse_query(render(node)) == node
