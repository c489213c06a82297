"""Archive search: user text to an FTS5 query over normalised text, Arabic clitics included."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from crawler.extract.digest import Texts
from crawler.extract.normalize import normalize

ARABIC_WORD = re.compile(r"^[\u0621-\u064a]+$")
# Proclitics a searched Arabic word may carry in the text: conjunction, preposition, article.
ARABIC_PREFIXES = (
    "",
    "ال",
    "و",
    "ف",
    "ب",
    "ك",
    "ل",
    "لل",
    "وال",
    "فال",
    "بال",
    "كال",
    "ولل",
    "فلل",
    "وب",
    "فب",
    "ول",
    "فل",
    "وك",
)
WORD = re.compile(r"[\w']+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: int
    source: str
    title: str | None
    url: str
    language: str | None
    published_at: str | None
    snippet: str


def reindex(conn: sqlite3.Connection, texts: dict[int, Texts]) -> None:
    """(Re)index articles for full-text search, by article id: the title, then summary and body."""
    if not texts:
        return
    conn.executemany("DELETE FROM articles_fts WHERE rowid = ?", [[i] for i in texts])
    conn.executemany(
        "INSERT INTO articles_fts (rowid, title, body) VALUES (?, ?, ?)",
        [[i, title, " ".join(filter(None, (summary, body)))] for i, (title, summary, body) in texts.items()],
    )


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: every word required; Arabic words also with clitics attached."""
    terms = []
    for word in WORD.findall(normalize(text)):
        word = word.strip("'")
        if not word:
            continue
        if ARABIC_WORD.match(word):
            bare = word[2:] if word.startswith("ال") and len(word) > 3 else word
            variants = dict.fromkeys(f'"{p}{bare}"' for p in ARABIC_PREFIXES)
            terms.append("(" + " OR ".join(variants) + ")")
        else:
            terms.append(f'"{word}"')
    return " AND ".join(terms)


def search(
    db: Database,
    text: str,
    *,
    language: str | None = None,
    source: str | None = None,
    since: str | None = None,
    limit: int = 20,
) -> list[Hit]:
    """Articles matching `text`, best first, optionally narrowed by language, source and date."""
    query = fts_query(text)
    if not query:
        return []
    where, params = ["articles_fts MATCH ?"], [query]
    for column, value in (("a.language", language), ("a.source", source)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("COALESCE(a.published_at, a.first_seen) >= ?")
        params.append(since)
    sql = (
        "SELECT a.id, a.source, a.title, a.url, a.language, a.published_at, "
        "snippet(articles_fts, -1, '[', ']', ' … ', 12) AS snippet "  # -1: the column that matched
        "FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY bm25(articles_fts, 5.0, 1.0), a.published_at DESC "
        "LIMIT ?"
    )
    rows: list[Any] = db.execute(sql, params + [limit]).fetchall()
    return [Hit(*row) for row in rows]
