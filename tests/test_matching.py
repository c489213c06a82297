"""Topic matching: the YAML table of texts and expected topics, and properties of spans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.matcher import Article, Matcher
from alerts.topics import Topic, load_topics, make_term
from crawler.normalize import normalize

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "tables" / "matching.yaml").read_text("utf-8"))
FILES = {"shipped": ROOT / "config" / "keywords.yaml",
         "syntax": Path(__file__).parent / "fixtures" / "keywords" / "syntax.yaml"}
MATCHERS = {name: Matcher(load_topics(path).enabled()) for name, path in FILES.items()}
ARABIC = re.compile(r"[\u0600-\u06ff]")


def article_of(case: dict) -> Article:
    body = case.get("body", case.get("text", ""))
    text = " ".join(str(case.get(k, "")) for k in ("title", "summary")) + body
    language = case.get("language") or ("ar" if ARABIC.search(text) else "fr")
    return Article(title=case.get("title", ""), summary=case.get("summary", ""), body=body,
                   language=language, source=case.get("source", "test"))


def case_id(case: dict) -> str:
    return f"{case['keywords']}:{(case.get('text') or case.get('title') or case.get('body', ''))[:40]}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_table(case: dict) -> None:
    found = {m.topic for m in MATCHERS[case["keywords"]].match(article_of(case))}
    assert found == set(case["expect"]), case.get("note", "")


def test_table_has_as_many_negatives_as_positives() -> None:
    negatives = sum(1 for c in CASES if not c["expect"])
    assert negatives >= len(CASES) - negatives


TERMS = ["IA", "intelligence artificielle", "الذكاء الاصطناعي", "الجزري", "Jazari", "souverain", "5G",
         "ذكاء"]
TOPIC = Topic(name="t", title="t", any=tuple(make_term(t, frozenset({"IA", "5G"})) for t in TERMS))
PROPERTY_MATCHER = Matcher([TOPIC])
pieces = st.sampled_from(TERMS + ["بال", "و", "ل", "l’", "d'", " ", "\n", "-", "é", "média", "\u064e",
                                  "ـ", "&amp;", "Maroc", "الجزيرة", "<b>", "«", "\u00a0", "IAM"])


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=12).map("".join))
def test_spans_always_point_at_the_matched_text(text: str) -> None:
    for match in PROPERTY_MATCHER.match(Article(body=text)):
        for hit in match.hits:
            assert text[hit.start:hit.end] == hit.text
            found = normalize(hit.text)
            norm = hit.term.norm
            assert found in (norm, "ل" + norm[1:]) or (hit.term.prefix and found.startswith(norm)), (
                text, hit)
