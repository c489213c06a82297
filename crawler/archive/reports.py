"""Read-only views of the archive for the CLI: source health."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class SourceHealth:
    """One row of `veille sources`."""

    name: str
    languages: str
    last_success: str | None
    last_error: str | None
    consecutive_failures: int
    articles_24h: int
    articles_total: int
    not_modified_rate: float | None


def source_health(db: Database, names: list[str], since_24h: str) -> list[SourceHealth]:
    """Health of the named sources, in config order, from the sources, routes and articles tables."""
    rows = {
        r[0]: r
        for r in db.execute(
            "SELECT s.name, s.languages, s.last_success, s.last_error, s.consecutive_failures, "
            "(SELECT COUNT(*) FROM articles a WHERE a.source = s.name AND a.first_seen >= ?), "
            "(SELECT COUNT(*) FROM articles a WHERE a.source = s.name), "
            "(SELECT CAST(SUM(not_modified) AS REAL) / NULLIF(SUM(fetches), 0) FROM routes r "
            " WHERE r.source = s.name) FROM sources s",
            [since_24h],
        ).fetchall()
    }
    out = []
    for name in names:
        row = rows.get(name) or (name, "", None, None, 0, 0, 0, None)
        out.append(SourceHealth(*row))
    return out
