"""Keyword topics: config/keywords.yaml validated into frozen objects (errors name file, line, topic, key)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.config.query import Node, Not, TermRef, evaluate, parse_query, query_terms, satisfiable
from crawler.config.yamlconf import LANGUAGES, KeyPath, Problems, load_named_list
from crawler.exceptions import QueryError
from crawler.extract.normalize import WORD_RE, normalize

TOPIC_KEYS = (
    "name",
    "title",
    "any",
    "all",
    "none",
    "query",
    "exact_case",
    "fields",
    "languages",
    "sources",
    "enabled",
    "notes",
)
FIELDS = ("title", "summary", "body")


@dataclass(frozen=True)
class Term:
    """One keyword as the admin wrote it, and the normalised form the matcher looks for."""

    text: str
    norm: str
    prefix: bool = False
    exact_case: bool = False
    field: str | None = None


@dataclass(frozen=True)
class Topic:
    """A named rule: any/all/none lists and an optional boolean query, with restrictions."""

    name: str
    title: str
    any: tuple[Term, ...] = ()
    all: tuple[Term, ...] = ()
    none: tuple[Term, ...] = ()
    query: Node | None = None
    query_terms: tuple[Term, ...] = ()
    fields: tuple[str, ...] = FIELDS
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    enabled: bool = True
    notes: str = ""

    def positive_terms(self) -> tuple[Term, ...]:
        """The terms whose hits justify a match: any, all, and query terms not under NOT."""
        wanted = {(r.text, r.prefix, r.field) for r in positive_refs(self.query)} if self.query else set()
        query = tuple(t for t in self.query_terms if (t.text, t.prefix, t.field) in wanted)
        none = set(self.none)
        return tuple(dict.fromkeys(t for t in self.any + self.all + query if t not in none))

    def terms(self) -> tuple[Term, ...]:
        """Every distinct term of the topic (positive and negative)."""
        return tuple(dict.fromkeys(self.any + self.all + self.none + self.query_terms))


@dataclass(frozen=True)
class Topics:
    """Every topic of one keywords file."""

    path: Path
    topics: tuple[Topic, ...] = field(default_factory=tuple)

    def enabled(self) -> tuple[Topic, ...]:
        """The topics that are switched on."""
        return tuple(t for t in self.topics if t.enabled)

    def get(self, name: str) -> Topic:
        """The topic called `name`; KeyError if unknown."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)


def make_term(text: str, exact: frozenset[str], field_name: str | None = None, prefix: bool = False) -> Term:
    """A Term from its written form ('souverain*' is a prefix)."""
    text = text.strip()
    if text.endswith("*"):
        text, prefix = text[:-1].rstrip(), True
    return Term(text=text, norm=term_key(text), prefix=prefix, exact_case=text in exact, field=field_name)


def term_key(text: str) -> str:
    """The words of a term, normalised and joined by single spaces ("Côte d'Ivoire": "cote d ivoire");
    the matcher reads text the same way, punctuation being a word boundary."""
    return " ".join(WORD_RE.findall(normalize(text)))


def load_topics(path: Path, sources: set[str] | None = None) -> Topics:
    """Read and validate a keywords file; ConfigError lists every problem."""
    return Topics(
        path,
        load_named_list(
            path, "topics", "topic", "topic", lambda raw, key, problems: _topic(raw, key, problems, sources)
        ),
    )


def _topic(raw: Any, key: KeyPath, problems: Problems, sources: set[str] | None) -> Topic | None:
    started = problems.begin_entry(raw, key, "topic", TOPIC_KEYS, "ia or maroc-digital-2030")
    if started is None:
        return None
    owner, before = started
    name = raw.get("name")
    exact = frozenset(
        t.rstrip("*").strip()
        for t in _strings(raw.get("exact_case", []), key + ("exact_case",), problems, owner)
    )
    lists = {
        k: tuple(make_term(t, exact) for t in _strings(raw.get(k, []), key + (k,), problems, owner))
        for k in ("any", "all", "none")
    }
    query, query_terms_ = _query(raw.get("query"), key + ("query",), problems, owner, exact)
    if not (lists["any"] or lists["all"] or "query" in raw) and set(raw) <= set(TOPIC_KEYS):
        problems.add(key, "no rule", "give at least one of any, all or query", owner)
    topic_fields = _choice(raw.get("fields", list(FIELDS)), FIELDS, key + ("fields",), problems, owner)
    languages = _choice(raw.get("languages", []), LANGUAGES, key + ("languages",), problems, owner)
    wanted = tuple(_strings(raw.get("sources", []), key + ("sources",), problems, owner))
    for index, source in enumerate(wanted):
        if sources is not None and source not in sources:
            problems.add(
                key + ("sources", index),
                f"unknown source '{source}'",
                "use a name from sources.yaml (`veille sources` lists them)",
                owner,
            )
    _check_exact(exact, lists, query_terms_, key, problems, owner)
    _check_options(raw, key, problems, owner)
    if len(problems.messages) > before:
        return None
    return Topic(
        name=name,
        title=raw.get("title") or name,
        any=lists["any"],
        all=lists["all"],
        none=lists["none"],
        query=query,
        query_terms=query_terms_,
        fields=topic_fields,
        languages=languages,
        sources=wanted,
        enabled=raw.get("enabled", True),
        notes=raw.get("notes", ""),
    )


def _strings(raw: Any, key: KeyPath, problems: Problems, owner: str) -> list[str]:
    hint = "a list of words or phrases, e.g. [IA, intelligence artificielle]"
    if isinstance(raw, str):
        raw = [raw]
    if not problems.expect(raw, list, key, hint, owner):
        return []
    out = []
    for index, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.add(key + (index,), f"expected a word or phrase, got {value!r}", hint, owner)
        elif not term_key(str(value).rstrip("*")):
            problems.add(key + (index,), f"{str(value)!r} has no letter or digit", hint, owner)
        elif "*" in str(value).rstrip("*"):
            problems.add(
                key + (index,),
                f"'*' only works at the end of a term, not in {str(value)!r}",
                "write souverain* for every word that starts with souverain",
                owner,
            )
        else:
            out.append(str(value))
    return out


def _query(
    raw: Any, key: KeyPath, problems: Problems, owner: str, exact: frozenset[str]
) -> tuple[Node | None, tuple[Term, ...]]:
    if raw is None:
        return None, ()
    hint = "e.g. '(IA OR \"intelligence artificielle\") AND NOT IAM'; operators are uppercase"
    if not problems.expect(raw, str, key, hint, owner):
        return None, ()
    try:
        node = parse_query(raw)
    except QueryError as exc:
        problems.add(key, f"{exc}: {_excerpt(raw, exc.column)}", hint, owner, at=(raw, exc.column))
        return None, ()
    refs = query_terms(node)
    if evaluate(node, lambda ref: []):
        problems.add(
            key,
            "the query matches articles that contain none of its terms",
            "a topic needs at least one term that must be present; NOT alone is not enough",
            owner,
        )
    return node, tuple(_term_of(ref, exact) for ref in refs)


def _term_of(ref: TermRef, exact: frozenset[str]) -> Term:
    return Term(
        text=ref.text,
        norm=term_key(ref.text),
        prefix=ref.prefix,
        exact_case=ref.text in exact,
        field=ref.field,
    )


def _excerpt(text: str, column: int) -> str:
    start = max(column - 1, 0)
    return repr(text[start : start + 20] or "(end of query)")


def _choice(
    raw: Any, allowed: tuple[str, ...], key: KeyPath, problems: Problems, owner: str
) -> tuple[str, ...]:
    hint = f"a list among {', '.join(allowed)}"
    if isinstance(raw, str):
        raw = [raw]
    if not problems.expect(raw, list, key, hint, owner):
        return ()
    if not raw and key[-1] == "fields":
        problems.add(
            key, "empty list: the topic could never match", "leave 'fields' out to look everywhere", owner
        )
    for index, value in enumerate(raw):
        if value not in allowed:
            problems.add(key + (index,), f"unknown value {value!r}", hint, owner)
    return tuple(v for v in raw if v in allowed)


def _check_exact(
    exact: frozenset[str],
    lists: dict[str, tuple[Term, ...]],
    query_terms_: tuple[Term, ...],
    key: KeyPath,
    problems: Problems,
    owner: str,
) -> None:
    written = {t.text for terms in lists.values() for t in terms} | {t.text for t in query_terms_}
    for name in sorted(exact - written):
        problems.add(
            key + ("exact_case",),
            f"'{name}' is not one of the topic's terms",
            "exact_case lists terms exactly as written in any, all, none or query",
            owner,
        )


def _check_options(raw: dict, key: KeyPath, problems: Problems, owner: str) -> None:
    for name in ("title", "notes"):
        if name in raw:
            problems.expect(raw[name], str, key + (name,), f"{name} is free text", owner)
    problems.expect(
        raw.get("enabled", True), bool, key + ("enabled",), "write enabled: true or enabled: false", owner
    )


SHORT = re.compile(r"^\w{1,2}$")
# A three-letter Arabic word with a one-letter clitic in front is often another word: كرة (ball) in
# فكرة (idea), مال (money) in كمال (the name Kamal).
CLITIC_PRONE = re.compile(r"^[\u0621-\u064A]{3}$")


def lint_topics(topics: Topics, source_languages: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Warnings about risky rules: short terms matched without case, topics that can never match."""
    warnings = []
    for topic in topics.topics:
        for term in topic.terms():
            if SHORT.match(term.norm) and not term.exact_case and term not in topic.none:
                warnings.append(_short_term_warning(topics.path, topic.name, term))
            elif CLITIC_PRONE.match(term.norm) and term not in topic.none:
                warnings.append(
                    f"{topics.path}: topic '{topic.name}': the three-letter term '{term.text}' "
                    "also matches after a one-letter clitic, which often makes another word "
                    "(كرة in فكرة) (hint: use a phrase such as 'كرة القدم')"
                )
        reason = never_matches(topic, source_languages or {})
        if reason:
            warnings.append(f"{topics.path}: topic '{topic.name}' can never match: {reason}")
            continue
        warnings.extend(
            f"{topics.path}: topic '{topic.name}': '{term.text}' is in both any and none, "
            "so it can only exclude (hint: keep it in one list)"
            for term in topic.any
            if excluded_by(term, topic.none)
        )
    return warnings


def _short_term_warning(path: object, topic: str, term: Term) -> str:
    if not any(c.isupper() or c.islower() for c in term.text):  # Arabic and digits have no case
        return (
            f"{path}: topic '{topic}': the short term '{term.text}' is common as a whole word "
            "(hint: use a longer phrase, or a query with NEAR)"
        )
    return (
        f"{path}: topic '{topic}': the short term '{term.text}' matches in any case "
        "(hint: add it to exact_case if it is an acronym)"
    )


def excluded_by(term: Term, exclusions: tuple[Term, ...]) -> bool:
    """True when every text the term matches is matched by one of the exclusions too, so that the
    term can only exclude. Conservative: clitic forms and case variants are not reasoned about."""
    return any(_covers(excluded, term) for excluded in exclusions)


def _covers(excluded: Term, term: Term) -> bool:
    if excluded.field is not None and excluded.field != term.field:
        return False
    if excluded.exact_case and not (term.exact_case and term.text == excluded.text):
        return False
    words, ex = term.norm.split(), excluded.norm.split()
    for start in range(len(words) - len(ex) + 1):
        window = words[start : start + len(ex)]
        if window[:-1] != ex[:-1]:
            continue
        last_is_open = term.prefix and start + len(ex) == len(words)  # "data*" also means "database"
        if window[-1].startswith(ex[-1]) if excluded.prefix else (window[-1] == ex[-1] and not last_is_open):
            return True
    return False


def never_matches(topic: Topic, source_languages: dict[str, tuple[str, ...]]) -> str | None:
    """Why a topic can never match, or None."""
    clash = next((t for t in topic.all if excluded_by(t, topic.none)), None)
    if clash is not None:
        return f"'{clash.norm}' is both required (all) and excluded (none)"
    if topic.any and all(excluded_by(t, topic.none) for t in topic.any):
        return f"each of its 'any' terms is also excluded (none), '{topic.any[0].norm}' first"
    if topic.query is not None and not satisfiable(topic.query):
        return "its query is a contradiction"
    if topic.sources and topic.languages and source_languages:
        spoken = {lang for s in topic.sources for lang in source_languages.get(s, ())}
        if spoken and not spoken & set(topic.languages):
            return "none of its sources publishes in its languages"
    return None


def positive_refs(node: Node) -> list[TermRef]:
    """Query terms that are not under a NOT."""
    if isinstance(node, Not):
        return []
    if isinstance(node, TermRef):
        return [node]
    children = (node.left, node.right) if hasattr(node, "left") else node.items
    return [ref for child in children for ref in positive_refs(child)]
