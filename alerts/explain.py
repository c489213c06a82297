"""Rendering what the matcher found for `veille try`: highlighted text, near misses, JSON (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alerts.matcher import Article, Explanation, TermHit

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
