"""Plain text for the CLI: tables, short cells, the crawl summary and the dispatch line (pure)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alerts.dispatch import Dispatched
    from crawler.runs import SourceRun


def width(text: str) -> int:
    """Display width: combining marks take no column, wide East-Asian characters two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def shorten(text: Any, limit: int) -> str:
    """One line of at most `limit` columns, with an ellipsis when cut."""
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the headers."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_summary(runs: list[SourceRun]) -> str:
    """The per-source table printed after a crawl, then each failing source's first error on its own
    line (failed sources first, then partial ones), any further error indented under it."""
    rows = [
        (r.source, r.status, r.found, r.new, r.duplicate, r.updated, r.not_modified, r.errors) for r in runs
    ]
    table = format_table(("source", "status", "found", "new", "duplicate", "updated", "304", "errors"), rows)
    failed = [r for r in runs if r.status == "failed"]
    cut = [r for r in runs if r.interrupted]
    counts = f"{len(runs) - len(failed) - len(cut)} succeeded, {len(failed)} failed"
    counts += f", {len(cut)} interrupted" if cut else ""
    lines = [
        table,
        "",
        (
            f"{len(runs)} sources: {counts}; "
            f"{sum(r.new for r in runs)} new, {sum(r.updated for r in runs)} updated articles"
        ),
    ]
    for run in failed + cut + [r for r in runs if r.succeeded and r.messages]:
        label = run.source if run.status == "failed" else f"{run.source} ({run.status})"
        first, *more = run.messages or ["failed"]
        lines += [f"{label}: {first}", *(f"  then: {message}" for message in more)]
    return "\n".join(lines)


def dispatched_text(done: Dispatched) -> str:
    """What a dispatch pass run by a command did, on one line, then its first errors."""
    if done.left_to_daemon:
        return "alerts: left to the running daemon (`veille status` shows its outbox)"
    lines = [
        (
            f"alerts: {done.sent} sent, {done.failed} failed (retried later), {done.dead} dead, "
            f"{done.postponed} held back by a cap"
        )
    ]
    return "\n".join(lines + [f"  {error}" for error in done.errors[:10]])
