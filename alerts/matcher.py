"""Matching topics against articles: one Aho-Corasick pass per field over normalised text.

The keys (alerts/patterns.py) carry their word boundaries and Arabic clitics, so every hit of the
automaton is a match; a second automaton of the bare terms finds near misses ("IA" inside "média")
when an admin asks why. Spans are mapped back to the original text for highlighting and storage.
"""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from alerts.patterns import DIGITS, NOT_ALNUM, Plan, bounded_keys, build_automaton, make_plan
from crawler.config.query import Hit, TermRef, witnesses
from crawler.config.topics import FIELDS, Term, Topic
from crawler.extract.normalize import WORD_RE, normalize, offsets_array, original_span

ELISIONS = frozenset({"l", "d", "qu", "j", "n", "s", "c", "m", "t", "jusqu", "lorsqu", "puisqu"})
MAX_SPANS = 20  # per topic match: enough to highlight, bounded for storage


@dataclass(frozen=True)
class Article:
    """What the matcher reads of an article."""

    title: str = ""
    summary: str = ""
    body: str = ""
    language: str | None = None
    source: str | None = None
    normalized: tuple[str, str, str] | None = None  # title, summary, body, when already normalised


@dataclass(frozen=True)
class TermHit:
    """A term found in a field, with its span in the original text."""

    term: Term
    field: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class NearMiss:
    """A term's letters found where the rules refuse them, and why."""

    term: Term
    field: str
    text: str
    reason: str
    topics: tuple[str, ...] = ()
    start: int = 0  # the letters' span in the original field
    end: int = 0
    word: str = ""  # the whole word they were found in


@dataclass(frozen=True)
class TopicMatch:
    """A topic that matched, with the hits of its positive terms."""

    topic: str
    hits: tuple[TermHit, ...]


@dataclass
class Explanation:
    """Everything `veille try` shows: matches, near misses, and why other topics did not match."""

    matches: list[TopicMatch] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    not_matched: dict[str, str] = field(default_factory=dict)


@dataclass
class _FieldText:
    text: str
    norm: str
    offsets: np.ndarray | None = None
    word_starts: list[int] | None = None


# A raw hit: (field, start, end) in the field's normalised text.
RawHit = tuple[str, int, int]
_KEY = itemgetter(1)
_START = itemgetter(1, 2)


class _Hits:
    """The ids of the terms an article's scan found, with their hits located on first request."""

    def __init__(
        self,
        matcher: Matcher,
        texts: dict[str, _FieldText],
        found: dict[str, list[tuple[int, int]]],
        ids: set[int],
    ) -> None:
        self.matcher, self.texts, self.found, self.ids = matcher, texts, found, ids
        self._ends: dict[str, dict[int, list[int]]] | None = None
        self._located: dict[int, list[RawHit]] = {}

    def __contains__(self, term_id: object) -> bool:
        return term_id in self.ids

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, term_id: int, default: Sequence[RawHit] = ()) -> Sequence[RawHit]:
        """The term's located hits, or `default` when the scan did not find it."""
        return self.locate(term_id) if term_id in self.ids else default

    def items(self) -> list[tuple[int, list[RawHit]]]:
        return [(i, self.locate(i)) for i in self.ids]

    def locate(self, term_id: int) -> list[RawHit]:
        """The term's hits, worked out once."""
        if term_id not in self._located:
            if self._ends is None:
                self._ends = {}
                for name, found in self.found.items():
                    by_key = self._ends[name] = defaultdict(list)
                    for end, k in found:
                        by_key[k].append(end)
            self._located[term_id] = self.matcher.locate(term_id, self.texts, self._ends)
        return self._located[term_id]


class Matcher:
    """Compiled topics: one automaton over every term of every enabled topic."""

    def __init__(self, topics: Iterable[Topic]) -> None:
        self.topics = tuple(t for t in topics if t.enabled)
        self.term_list: list[Term] = []
        self.term_ids: dict[Term, int] = {}
        self.owners: dict[int, list[Topic]] = defaultdict(list)
        self.plans: dict[str, Plan] = {}
        self.roles: dict[int, list[tuple[int, str]]] = defaultdict(list)  # term -> (topic index, list)
        for index, topic in enumerate(self.topics):
            for term in topic.terms():
                self.owners[self._id(term)].append(topic)
            self.plans[topic.name] = plan = make_plan(topic, self.term_ids)
            for role in ("any", "all", "none"):
                for term_id in getattr(plan, role):
                    self.roles[term_id].append((index, role if plan.simple else "query"))
            for term in topic.query_terms:
                self.roles[self.term_ids[term]].append((index, "query"))
        # Per topic: how many distinct 'all' terms must be seen, and whether an 'any' term must be.
        self.required = [
            (len(set(self.plans[t.name].all)), bool(self.plans[t.name].any)) for t in self.topics
        ]
        # Each automaton key (alerts/patterns.py) is a number k; a hit ending at `end` of the framed
        # text stands for each term of key k, spanning end - back .. end - trail in the normalised field.
        forms: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for term in self.term_list:
            for key, skip, trail in bounded_keys(term):
                forms[key].append((self.term_ids[term], len(key) - 1 - skip, trail))
        self.term_keys: list[list[tuple[int, int, int]]] = [[] for _ in self.term_list]
        self.key_term: list[int] = []  # the one plain term a key stands for, or -1: see key_terms
        self.key_terms: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}  # (plain, exact case)
        for k, entries in enumerate(forms.values()):
            for term_id, back, trail in entries:
                self.term_keys[term_id].append((k, back, trail))
            plain = tuple(i for i, _, _ in entries if not self.term_list[i].exact_case)
            exact = tuple(i for i, _, _ in entries if self.term_list[i].exact_case)
            self.key_term.append(plain[0] if len(plain) == 1 and not exact else -1)
            if len(plain) != 1 or exact:
                self.key_terms[k] = (plain, exact)
        self.shared_keys = frozenset(self.key_terms)
        self.bounded = build_automaton({key: k for k, key in enumerate(forms)})
        self.bare = None  # built on first explain(): only `veille try` needs near misses

    def _id(self, term: Term) -> int:
        if term not in self.term_ids:
            self.term_ids[term] = len(self.term_list)
            self.term_list.append(term)
        return self.term_ids[term]

    def match(self, article: Article) -> list[TopicMatch]:
        """The topics the article matches, with located hits."""
        texts = _texts(article)
        hits = self._scan(texts)
        matches = []
        for topic in self._likely(hits):
            if _restricted(topic, article) is None:
                decision = self._decide(topic, hits, texts)
                if isinstance(decision, list):
                    matches.append(self._topic_match(topic, decision, texts))
        return matches

    def term_hits(self, article: Article) -> set[Term]:
        """Every term found in the article, whether or not its topic matched."""
        return {self.term_list[i] for i in self._scan(_texts(article))}

    def explain(self, article: Article) -> Explanation:
        """Matches, near misses and the reason each other topic did not match."""
        texts = _texts(article)
        hits = self._scan(texts)
        out = Explanation(near_misses=self._near_misses(texts, hits))
        candidates = set(self._candidates(hits))
        for topic in self.topics:
            if topic not in candidates:
                out.not_matched[topic.name] = "no term found"
                continue
            decision = self._decide(topic, hits, texts)
            restricted = _restricted(topic, article)
            if isinstance(decision, list) and restricted is None:
                out.matches.append(self._topic_match(topic, decision, texts))
            else:
                out.not_matched[topic.name] = restricted if isinstance(decision, list) else decision
        return out

    def _topic_match(
        self, topic: Topic, decision: list[tuple[int, RawHit]], texts: dict[str, _FieldText]
    ) -> TopicMatch:
        return TopicMatch(topic.name, tuple(_located(self, h, texts) for h in decision[:MAX_SPANS]))

    def _scan(self, texts: dict[str, _FieldText]) -> _Hits:
        """The terms found in the article; where they are is worked out only when asked."""
        found: dict[str, list[tuple[int, int]]] = {}
        automaton = self.bounded
        if automaton is not None:
            for name, ft in texts.items():
                if ft.norm:
                    found[name] = list(automaton.iter(" " + NOT_ALNUM.sub(" ", ft.norm) + " "))
        keys = set().union(*(map(_KEY, f) for f in found.values()))
        ids = set(map(self.key_term.__getitem__, keys))
        ids.discard(-1)
        hits = _Hits(self, texts, found, ids)
        exact: set[int] = set()
        for k in keys & self.shared_keys:
            plain, case = self.key_terms[k]
            ids.update(plain)
            exact.update(case)
        ids.update(i for i in exact if hits.locate(i))  # exact case: only where the case agrees
        return hits

    def locate(
        self, term_id: int, texts: dict[str, _FieldText], ends: dict[str, dict[int, list[int]]]
    ) -> list[RawHit]:
        """Where a term was found, field by field in text order: (field, start, end) in the
        normalised text; `ends` holds the end of each automaton key's hits per field."""
        term = self.term_list[term_id]
        out: list[RawHit] = []
        for name, by_key in ends.items():
            norm, size = texts[name].norm, len(texts[name].norm)
            located = []
            for k, back, trail in self.term_keys[term_id]:
                for end in by_key.get(k, ()):
                    stop = end - trail
                    if not trail:  # a prefix: the hit covers the whole word it starts
                        while stop < size and norm[stop].isalnum():
                            stop += 1
                    if not term.exact_case or _case_ok(term, texts[name], end - back, stop):
                        located.append((name, end - back, stop))
            out += sorted(located, key=_START)
        return out

    def _likely(self, hits: _Hits) -> list[Topic]:
        """Topics that may match: simple ones already decided by counting their lists' hits."""
        seen_any, seen_all, seen_none, others = set(), defaultdict(int), set(), set()
        roles = self.roles
        for term_id in hits:
            for index, role in roles[term_id]:
                if role == "any":
                    seen_any.add(index)
                elif role == "all":
                    seen_all[index] += 1
                elif role == "none":
                    seen_none.add(index)
                else:
                    others.add(index)
        out = [self.topics[i] for i in sorted(others)]
        needs = self.required
        for index in (seen_any | seen_all.keys()) - seen_none - others:
            wanted_all, wants_any = needs[index]
            if seen_all[index] == wanted_all and (not wants_any or index in seen_any):
                out.append(self.topics[index])
        return out

    def _candidates(self, hits: _Hits) -> list[Topic]:
        seen: dict[str, Topic] = {}
        for term_id in hits:
            for topic in self.owners[term_id]:
                seen.setdefault(topic.name, topic)
        return list(seen.values())

    def _decide(
        self, topic: Topic, hits: _Hits, texts: dict[str, _FieldText]
    ) -> list[tuple[int, RawHit]] | str:
        """The positive hits when the topic matches, else the reason it does not."""
        plan = self.plans[topic.name]
        if plan.simple:  # every field, no query: set lookups decide
            if any(i in hits for i in plan.none):
                return f"excluded by '{next(self.term_list[i].text for i in plan.none if i in hits)}'"
            missing = next((i for i in plan.all if i not in hits), None)
            if missing is not None:
                return f"'{self.term_list[missing].text}' is missing (all)"
            if plan.any and not any(i in hits for i in plan.any):
                return "no term of 'any' found"
            return [(i, h) for i in plan.positive for h in hits.get(i, ())]
        return self._decide_slowly(topic, hits, texts)

    def _decide_slowly(
        self, topic: Topic, hits: _Hits, texts: dict[str, _FieldText]
    ) -> list[tuple[int, RawHit]] | str:
        def found(term: Term) -> list[RawHit]:
            allowed = (term.field,) if term.field else topic.fields
            return [h for h in hits.get(self.term_ids[term], ()) if h[0] in allowed]

        excluded = next((t for t in topic.none if found(t)), None)
        if excluded is not None:
            return f"excluded by '{excluded.text}'"
        missing = next((t for t in topic.all if not found(t)), None)
        if missing is not None:
            return f"'{missing.text}' is missing (all)"
        if topic.any and not any(found(t) for t in topic.any):
            return "no term of 'any' found"
        shown: dict[Term, list[RawHit]] = {}
        if topic.query is not None:
            shown = _query_witnesses(topic, found, texts)
            if not shown:
                return "the query is not satisfied"
        # A query term's hits are the ones that satisfy the query (a NEAR's close pair, not every
        # occurrence); the lists' terms show all theirs.
        listed = set(topic.any + topic.all)
        located = [
            (self.term_ids[t], h)
            for t in topic.positive_terms()
            for h in (found(t) if t in listed else shown.get(t, ()))
        ]
        return located or "no term found"

    def _near_misses(self, texts: dict[str, _FieldText], hits: _Hits) -> list[NearMiss]:
        if self.bare is None:
            by_norm: dict[str, list[int]] = defaultdict(list)
            for term_id, term in enumerate(self.term_list):
                by_norm[term.norm].append(term_id)
            self.bare = build_automaton({norm: tuple(ids) for norm, ids in by_norm.items()})
        if self.bare is None:
            return []
        real: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
        for term_id, found in hits.items():
            for name, start, end in found:
                real[term_id, name].append((start, end))
        misses: dict[tuple[str, str, int, str], NearMiss] = {}  # one per term text and place
        for name, ft in texts.items():
            for end, term_ids in self.bare.iter(ft.norm):
                for term_id in term_ids:
                    term = self.term_list[term_id]
                    start = end - len(term.norm) + 1
                    # Inside a real hit of the term (its clitic form: و[للأمن]) is no miss.
                    if any(a <= start and end < b for a, b in real.get((term_id, name), ())):
                        continue
                    a, b = _span(ft, start, end + 1)
                    found = ft.text[a:b]
                    reason = (
                        f"case differs ('{found}', wanted '{term.text}')"
                        if _inside_ok(ft.norm, start, end + 1, term)
                        else "inside a word"
                    )
                    owners = tuple(t.name for t in self.owners[term_id])
                    key = (term.text, name, a, reason)
                    if key in misses:
                        owners = tuple(dict.fromkeys(misses[key].topics + owners))
                    misses[key] = NearMiss(
                        term, name, found, reason, owners, a, b, _word_around(ft.text, a, b)
                    )
        return list(misses.values())


def _word_around(text: str, start: int, end: int) -> str:
    """The word of the original text that contains text[start:end]."""

    def inside(char: str) -> bool:  # a letter, a digit, or a mark on one (harakat, accents)
        return char.isalnum() or unicodedata.category(char)[0] == "M"

    while start > 0 and inside(text[start - 1]):
        start -= 1
    while end < len(text) and inside(text[end]):
        end += 1
    return text[start:end]


def _inside_ok(norm: str, start: int, end: int, term: Term) -> bool:
    before = start == 0 or not norm[start - 1].isalnum()
    after = term.prefix or end >= len(norm) or not norm[end].isalnum()
    return before and after


def _texts(article: Article) -> dict[str, _FieldText]:
    norms = article.normalized or tuple(normalize(getattr(article, f) or "") for f in FIELDS)
    return {f: _FieldText(getattr(article, f) or "", norm) for f, norm in zip(FIELDS, norms, strict=True)}


def _case_ok(term: Term, ft: _FieldText, start: int, end: int) -> bool:
    """Same case, word by word; accents, hyphens, line breaks and invisible characters aside."""
    found, wanted = _case_words(_original(ft, start, end)), _case_words(term.text)
    if term.prefix and found and wanted:
        found[len(wanted) - 1] = found[len(wanted) - 1][: len(wanted[-1])]
    return found[: len(wanted)] == wanted


def _case_words(text: str) -> list[str]:
    text = "".join(
        c
        for c in unicodedata.normalize("NFKD", text)
        if not unicodedata.combining(c) and unicodedata.category(c) != "Cf"
    )
    return WORD_RE.findall(unicodedata.normalize("NFKC", text).translate(DIGITS))


def _original(ft: _FieldText, start: int, end: int) -> str:
    a, b = _span(ft, start, end)
    return ft.text[a:b]


def _span(ft: _FieldText, start: int, end: int) -> tuple[int, int]:
    if ft.offsets is None:
        _, ft.offsets = offsets_array(ft.text)
    a, b = original_span(ft.offsets, start, end)
    # The span also covers what normalisation dropped after it: keep marks and tatweel, not spaces.
    while b > a and unicodedata.category(ft.text[b - 1])[0] in "ZPSC":
        b -= 1
    return a, b


def _word_index(ft: _FieldText, position: int) -> int:
    if ft.word_starts is None:
        # l’, d’, qu’... are not words for NEAR: "souveraineté de l’IA" is one word apart.
        ft.word_starts = [
            m.start()
            for m in WORD_RE.finditer(ft.norm)
            if not (m.group() in ELISIONS and ft.norm[m.end() : m.end() + 1] == "'")
        ]
    low, high = 0, len(ft.word_starts)
    while low < high:
        middle = (low + high) // 2
        if ft.word_starts[middle] <= position:
            low = middle + 1
        else:
            high = middle
    return max(low - 1, 0)


def _restricted(topic: Topic, article: Article) -> str | None:
    if topic.languages and article.language not in topic.languages:
        return f"language {article.language or 'unknown'} is not in {', '.join(topic.languages)}"
    if topic.sources and article.source not in topic.sources:
        return f"source {article.source or 'unknown'} is not in {', '.join(topic.sources)}"
    return None


def _query_witnesses(topic: Topic, found, texts: dict[str, _FieldText]) -> dict[Term, list[RawHit]]:
    """The raw hits that make the topic's query hold, per query term; empty when it does not hold."""
    by_ref = {(t.text, t.prefix, t.field): t for t in topic.query_terms}
    raw: dict[tuple[TermRef, Hit], RawHit] = {}

    def hits_of(ref: TermRef) -> list[Hit]:
        out = []
        for f, s, e in found(by_ref[(ref.text, ref.prefix, ref.field)]):
            hit = Hit(f, _word_index(texts[f], s), _word_index(texts[f], e - 1))
            raw.setdefault((ref, hit), (f, s, e))
            out.append(hit)
        return out

    shown: dict[Term, list[RawHit]] = {}
    for ref, hits in witnesses(topic.query, hits_of).items():
        term = by_ref[(ref.text, ref.prefix, ref.field)]
        shown.setdefault(term, []).extend(
            h for h in (raw[(ref, hit)] for hit in hits) if h not in shown[term]
        )
    return shown


def _located(matcher: Matcher, hit: tuple[int, RawHit], texts: dict[str, _FieldText]) -> TermHit:
    term_id, (name, start, end) = hit
    ft = texts[name]
    a, b = _span(ft, start, end)
    return TermHit(matcher.term_list[term_id], name, a, b, ft.text[a:b])


def match_row(match: TopicMatch) -> tuple[str, str, str, str]:
    """A match as stored: topic, then JSON of its distinct terms, fields and spans."""
    terms = list(dict.fromkeys(h.term.text for h in match.hits))
    fields = list(dict.fromkeys(h.field for h in match.hits))
    spans = [
        {"term": h.term.text, "field": h.field, "start": h.start, "end": h.end, "text": h.text}
        for h in match.hits
    ]
    return (
        match.topic,
        json.dumps(terms, ensure_ascii=False),
        json.dumps(fields),
        json.dumps(spans, ensure_ascii=False),
    )
