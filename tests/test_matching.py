"""Topic matching: the YAML table of texts and expected topics, and properties of spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.matcher import Article, Matcher
from crawler.config.topics import Topic, load_topics, make_term
from crawler.extract.normalize import normalize

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "tables" / "matching.yaml").read_text("utf-8"))
FILES = {
    "shipped": ROOT / "config" / "keywords.yaml",
    "syntax": Path(__file__).parent / "fixtures" / "keywords" / "syntax.yaml",
}
MATCHERS = {name: Matcher(load_topics(path).enabled()) for name, path in FILES.items()}
ARABIC = re.compile(r"[\u0600-\u06ff]")


def article_of(case: dict) -> Article:
    body = case.get("body", case.get("text", ""))
    text = " ".join(str(case.get(k, "")) for k in ("title", "summary")) + body
    language = case.get("language") or ("ar" if ARABIC.search(text) else "fr")
    return Article(
        title=case.get("title", ""),
        summary=case.get("summary", ""),
        body=body,
        language=language,
        source=case.get("source", "test"),
    )


def case_id(case: dict) -> str:
    return f"{case['keywords']}:{(case.get('text') or case.get('title') or case.get('body', ''))[:40]}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_table(case: dict) -> None:
    found = {m.topic for m in MATCHERS[case["keywords"]].match(article_of(case))}
    assert found == set(case["expect"]), case.get("note", "")


def test_table_has_as_many_negatives_as_positives() -> None:
    negatives = sum(1 for c in CASES if not c["expect"])
    assert negatives >= len(CASES) - negatives


TERMS = ["IA", "intelligence artificielle", "الذكاء الاصطناعي", "الجزري", "Jazari", "souverain", "5G", "ذكاء"]
TOPIC = Topic(name="t", title="t", any=tuple(make_term(t, frozenset({"IA", "5G"})) for t in TERMS))
PROPERTY_MATCHER = Matcher([TOPIC])
pieces = st.sampled_from(
    TERMS
    + [
        "بال",
        "و",
        "ل",
        "l’",
        "d'",
        " ",
        "\n",
        "-",
        "é",
        "média",
        "\u064e",
        "ـ",
        "&amp;",
        "Maroc",
        "الجزيرة",
        "<b>",
        "«",
        "\u00a0",
        "IAM",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=12).map("".join))
def test_spans_always_point_at_the_matched_text(text: str) -> None:
    for match in PROPERTY_MATCHER.match(Article(body=text)):
        for hit in match.hits:
            assert text[hit.start : hit.end] == hit.text
            found = normalize(hit.text)
            norm = hit.term.norm
            assert found in (norm, "ل" + norm[1:]) or (hit.term.prefix and found.startswith(norm)), (
                text,
                hit,
            )


def topic(name: str = "t", **lists: object) -> Topic:
    exact = frozenset(lists.pop("exact_case", ()))
    built = {
        k: tuple(make_term(t, exact) for t in v) for k, v in lists.items() if k in ("any", "all", "none")
    }
    return Topic(name=name, title=name, **built)


@pytest.mark.parametrize(
    ("lists", "text", "expected"),
    [
        ({"all": ["tramway", "tramway"]}, "Le tramway de Rabat", True),  # a term listed twice counts once
        ({"any": ["Côte d'Ivoire"]}, "Match contre la Côte d’Ivoire", True),  # punctuation inside a term
        ({"any": ["R&D"]}, "Les dépenses de R&D au Maroc", True),
        ({"any": ["ChatGPT"]}, "يستعين الطلبة بـChatGPT في الامتحانات", True),  # Arabic clitic on Latin
        ({"any": ["ميسترال"]}, "للميسترال حضور في المغرب", True),  # لل before a term without ال
        ({"any": ["اللغة الأمازيغية"]}, "دعم للغة الأمازيغية", True),  # ل + اللغة is written للغة
        (
            {"any": ["Mistral AI"], "exact_case": ["Mistral AI"]},
            "la start-up Mistral-AI lève des fonds",
            True,
        ),
        ({"any": ["IA générative"], "exact_case": ["IA générative"]}, "l'IA generative progresse", True),
        ({"any": ["IA générative"], "exact_case": ["IA générative"]}, "l'ia générative progresse", False),
        ({"any": ["oeuvre"]}, "la mise en œuvre du plan", True),
    ],
)
def test_review_cases(lists: dict, text: str, expected: bool) -> None:
    assert bool(Matcher([topic(**lists)]).match(Article(body=text))) is expected


def test_match_and_explain_agree_on_random_topics() -> None:
    import random

    rng = random.Random(3)
    words = ["maroc", "IA", "Jazari", "الجزري", "tramway", "Rabat", "الذكاء", "souverain", "5G", "data"]
    texts = ["IA et tramway à Rabat", "بالذكاء في الرباط والجزري", "Jazari, 5G, data center", "rien"]
    for _ in range(300):
        lists = {k: rng.sample(words, rng.randint(0, 2)) for k in ("any", "all", "none")}
        lists["any"] = lists["any"] or [rng.choice(words)]
        lists["exact_case"] = [w for w in ("IA", "5G") if rng.random() < 0.5]
        matcher = Matcher([topic(**lists)])
        for text in texts:
            article = Article(body=text)
            assert [m.topic for m in matcher.match(article)] == [
                m.topic for m in matcher.explain(article).matches
            ]


def test_two_terms_sharing_a_key_get_their_own_spans() -> None:
    matcher = Matcher([topic("a", any=["ذكاء"]), topic("b", any=["الذكاء"])])
    spans = {m.topic: m.hits[0].text for m in matcher.match(Article(body="الذكاء"))}
    assert spans == {"a": "ذكاء", "b": "الذكاء"}


def test_terms_under_not_are_not_stored_as_reasons() -> None:
    path_topics = load_topics_text("topics:\n  - name: q\n    query: 'Jazari OR (Rabat AND NOT IAM)'\n")
    [match] = Matcher(path_topics).match(Article(body="Jazari chez IAM"))
    assert [h.term.text for h in match.hits] == ["Jazari"]


def load_topics_text(text: str) -> tuple[Topic, ...]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "k.yaml"
        path.write_text(text, "utf-8")
        return load_topics(path).enabled()


def test_a_span_keeps_the_marks_of_its_last_letter() -> None:
    text = "عن الذكاءِّ الاصطناعيُّ اليوم"
    [match] = Matcher([topic(any=["الذكاء الاصطناعي"])]).match(Article(body=text))
    assert match.hits[0].text == "الذكاءِّ الاصطناعيُّ"


def test_near_does_not_count_elided_articles() -> None:
    topics = load_topics_text("topics:\n  - name: s\n    query: 'souveraineté NEAR/1 IA'\n")
    assert Matcher(topics).match(Article(body="la souveraineté de l’IA"))


def test_lone_surrogates_do_not_crash() -> None:
    assert Matcher([topic(any=["IA"], exact_case=["IA"])]).match(Article(body="l'IA \udcff fin"))


def test_a_near_query_shows_the_close_pair_not_every_occurrence() -> None:
    topics = load_topics_text("topics:\n  - name: m\n    query: 'Mistral NEAR/3 IA'\n    exact_case: [IA]\n")
    body = (
        "L'IA progresse au Maroc. "
        + "Un long passage sans rapport. " * 10
        + "Mistral lance une IA souveraine."
    )
    [match] = Matcher(topics).match(Article(body=body))
    assert [(h.term.text, body[: h.start].count("IA")) for h in match.hits] == [("Mistral", 1), ("IA", 1)]


def test_a_clitic_form_that_matched_is_not_also_a_near_miss() -> None:
    # وللأمن matched through its clitics; the bare letters inside it were also reported "inside a word".
    explanation = Matcher([topic(any=["أمن"])]).explain(Article(body="مجلس وللأمن"))
    assert explanation.matches and explanation.near_misses == []
