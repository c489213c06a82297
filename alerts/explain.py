"""What the matcher found, shown to a person: `veille try`'s highlighted text, near misses and JSON
(pure), and `veille search`'s snippets in the articles' own words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from alerts.matcher import Article, Explanation, Matcher, TermHit
from alerts.render import SNIPPET, snippet
from crawler.archive.reports import read_article
from crawler.archive.search import WORD, Hit
from crawler.config.topics import Topic, make_term

CONTEXT = 40
UNTOUCHED = ("no term of 'any' found", "no term found")  # topics the text never came near


def highlight(text: str, hits: list[TermHit], before: str = "[", after: str = "]") -> str:
    """Text around the hits with each matched span marked; far-apart hits are joined by ' … '."""
    pieces, cursor, last_end = [], 0, -1
    for start, end in _merged((h.start, h.end) for h in hits):
        window = max(start - CONTEXT, last_end if last_end >= 0 else 0)
        if pieces and window > cursor:
            pieces.append(" … ")
        elif not pieces and window > 0:
            pieces.append("… ")
        pieces.append(text[max(window, cursor) : start] + before + text[start:end] + after)
        cursor = last_end = end
    tail = text[cursor : cursor + CONTEXT]
    pieces.append(tail + (" …" if cursor + CONTEXT < len(text) else ""))
    return " ".join("".join(pieces).split())


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one: "Mistral" inside "Mistral AI" marks the whole phrase."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def render_text(explanation: Explanation, article: Article, ansi: bool = False) -> str:
    """The human report of one `veille try`."""
    mark = ("\033[1;33m", "\033[0m") if ansi else ("[", "]")
    lines = []
    for match in explanation.matches:
        terms = ", ".join(dict.fromkeys(f"{h.term.text} ({h.field})" for h in match.hits))
        lines.append(f"MATCH {match.topic}: {terms}")
        for field_name in ("title", "summary", "body"):
            hits = [h for h in match.hits if h.field == field_name]
            if hits:
                lines.append(f"  {field_name}: {highlight(getattr(article, field_name), hits, *mark)}")
    if not explanation.matches:
        lines.append("no topic matches")
    lines.extend(
        f"near miss: '{miss.term.text}' in {miss.field}, in the word '{miss.word}' "
        f"at {miss.start} ({', '.join(miss.topics)}): {miss.reason}"
        for miss in explanation.near_misses
    )
    touched = {name for miss in explanation.near_misses for name in miss.topics}
    for topic, reason in explanation.not_matched.items():
        if reason not in UNTOUCHED or topic in touched:
            lines.append(f"not {topic}: {reason}")
    return "\n".join(lines)


def render_json(explanation: Explanation) -> dict[str, Any]:
    """The same report as plain data for scripts."""
    return {
        "matches": [
            {
                "topic": m.topic,
                "hits": [
                    {"term": h.term.text, "field": h.field, "start": h.start, "end": h.end, "text": h.text}
                    for h in m.hits
                ],
            }
            for m in explanation.matches
        ],
        "near_misses": [
            {
                "term": n.term.text,
                "field": n.field,
                "text": n.text,
                "word": n.word,
                "start": n.start,
                "end": n.end,
                "topics": list(n.topics),
                "reason": n.reason,
            }
            for n in explanation.near_misses
        ],
        "not_matched": explanation.not_matched,
    }


def with_original_snippets(db: Database, hits: list[Hit], text: str) -> list[Hit]:
    """The hits with snippets cut from the articles' own words, not from the index's folded text:
    from the field where most of the searched words occur, around the place where most of them are
    close together, each marked (found by the topic matcher, clitics and all). A hit whose words
    cannot be located keeps the index's snippet."""
    words = list(dict.fromkeys(WORD.findall(text)))  # as fts_query reads them: "l'État" is one word
    if not hits or not words:
        return hits
    matcher = Matcher([Topic(name="q", title="q", any=tuple(make_term(w, frozenset()) for w in words))])
    out = []
    for hit in hits:
        stored = read_article(db, hit.id)
        fields = {f: (getattr(stored, f) if stored else "") or "" for f in ("title", "summary", "body")}
        found = [h for m in matcher.explain(Article(**fields)).matches for h in m.hits]
        if not found:
            out.append(hit)
            continue
        where = max(
            ("body", "summary", "title"),  # ties go to the body
            key=lambda f: len({h.term for h in found if h.field == f}),
        )
        spans = sorted((h.start, h.end, h.term) for h in found if h.field == where)
        marks = [{"start": a, "end": b} for a, b, _ in spans]
        around = _densest(spans, SNIPPET * 2 // 3)
        out.append(replace(hit, snippet=snippet(fields[where], marks, ("[", "]"), around=around)))
    return out


def _densest(spans: list[tuple[int, int, Any]], width: int) -> int:
    """Where a window of `width` characters holds the most distinct words, closest together."""

    def score(start: int) -> tuple[int, int]:
        first: dict[Any, int] = {}
        for a, _, term in spans:
            if start <= a < start + width:
                first.setdefault(term, a)
        return len(first), -(max(first.values()) - start)

    return max((a for a, _, _ in spans), key=score)
