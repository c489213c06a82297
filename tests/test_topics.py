"""Loading keywords files: exact error messages, and lint warnings for risky rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crawler.config import load_config
from crawler.config.topics import lint_topics, load_topics
from crawler.exceptions import ConfigError

ROOT = Path(__file__).parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "tables" / "bad_keywords.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_broken_keywords_message(tmp_path: Path, case: dict) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text(case["text"], "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_topics(path, {"hespress-ar", "telquel"})
    assert caught.value.problems[0] == case["error"].replace("{dir}", str(tmp_path))


def test_shipped_keywords_load_with_the_shipped_sources() -> None:
    config = load_config(ROOT / "config")
    names = {t.name for t in config.topics.topics}
    assert {"ia", "jazari", "souverainete"} <= names


def lint(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "keywords.yaml"
    path.write_text(text, "utf-8")
    return lint_topics(load_topics(path), {"a": ("ar",), "b": ("fr",)})


def test_lint_warns_about_short_terms_without_case(tmp_path: Path) -> None:
    [warning] = lint(
        tmp_path,
        "topics:\n  - name: ia\n    any: [IA, AI, intelligence artificielle]\n    exact_case: [AI]\n",
    )
    assert "the short term 'IA' matches in any case (hint: add it to exact_case" in warning


def test_lint_gives_arabic_and_numeric_short_terms_a_hint_that_applies_to_them(tmp_path: Path) -> None:
    warnings = lint(tmp_path, "topics:\n  - name: x\n    any: [في, 5, Jazari]\n")
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "topic 'x': the short term 'في' is common as a whole word (hint: use a longer phrase, or a query with NEAR)",
        "topic 'x': the short term '5' is common as a whole word (hint: use a longer phrase, or a query with NEAR)",
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "topics:\n  - name: x\n    all: [Maroc]\n    none: [maroc]\n",
            "'maroc' is both required (all) and excluded (none)",
        ),
        (
            "topics:\n  - name: x\n    any: [Jazari, drone]\n    none: [jazari, Drone]\n",
            "each of its 'any' terms is also excluded (none), 'jazari' first",
        ),
        ("topics:\n  - name: x\n    query: 'Jazari AND NOT Jazari'\n", "its query is a contradiction"),
        (
            "topics:\n  - name: x\n    any: [Jazari]\n    sources: [a]\n    languages: [fr]\n",
            "none of its sources publishes in its languages",
        ),
    ],
)
def test_lint_finds_topics_that_can_never_match(tmp_path: Path, text: str, reason: str) -> None:
    warnings = lint(tmp_path, text)
    assert any(w.endswith(f"can never match: {reason}") for w in warnings), warnings


def test_lint_warns_that_a_three_letter_arabic_term_meets_other_words(tmp_path: Path) -> None:
    # كرة (ball) matches فكرة (idea) through the clitic ف; a phrase or a longer word does not.
    warnings = lint(tmp_path, "topics:\n  - name: x\n    any: [كرة, كرة القدم, الكرة, مال*]\n")
    assert [w.split(": ", 2)[2].split("'")[1] for w in warnings] == ["كرة", "مال"]  # a prefix too
    assert warnings[0].endswith(
        "which often makes another word (كرة in فكرة) (hint: use a phrase such as 'كرة القدم')"
    )


def test_lint_names_a_term_that_is_both_wanted_and_excluded(tmp_path: Path) -> None:
    warnings = lint(tmp_path, "topics:\n  - name: x\n    any: [Jazari, robotique]\n    none: [jazari]\n")
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "topic 'x': 'Jazari' is in both any and none, so it can only exclude (hint: keep it in one list)"
    ]


@pytest.mark.parametrize(
    ("any_terms", "none_terms", "dead"),
    [
        ("[data*]", "[data]", False),  # data* still finds "database"
        ("[data]", "[data*]", True),
        ("[database]", "[data*]", True),
        ("[IA]", "[IA]", True),
        ("[ia]", "[IA]\n    exact_case: [IA]", False),  # the exclusion is narrower: only "IA"
        ('["intelligence artificielle"]', "[intelligence]", True),
        ('["intelligence artif*"]', "[artificielle]", False),
    ],
)
def test_lint_reasons_about_prefixes_case_and_phrases(
    tmp_path: Path, any_terms: str, none_terms: str, dead: bool
) -> None:
    warnings = lint(tmp_path, f"topics:\n  - name: x\n    any: {any_terms}\n    none: {none_terms}\n")
    assert any("can never match" in w for w in warnings) == dead, warnings


def test_shipped_keywords_have_no_lint_warning() -> None:
    config = load_config(ROOT / "config")
    assert lint_topics(config.topics, {s.name: s.languages for s in config.sources}) == []
