"""Stories: articles grouped by near-identical text (MinHash bands within a time window)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from crawler.extract.fingerprint import similarities


def similar_story(
    db: Database, signature: bytes, bands: list[int], similarity: float, window_days: int
) -> int | None:
    """The story of a recent article close enough to `signature` (sharing a band), or None."""
    where = " OR ".join("(b.band = ? AND b.value = ?)" for _ in bands)
    params: list[Any] = [x for i, v in enumerate(bands) for x in (i, v)]
    rows = db.execute(
        f"SELECT DISTINCT b.story_id, a.minhash FROM story_bands b JOIN articles a "
        f"ON a.id = b.article_id WHERE ({where}) "
        f"AND b.seen_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?)",
        params + [f"-{window_days} days"],
    ).fetchall()
    scores = similarities(signature, [other for _, other in rows])
    best = max(zip(scores, (story for story, _ in rows), strict=True), default=None)
    return best[1] if best and best[0] >= similarity else None


def join_story(db: Database, article_id: int, story_id: int, bands: list[int], now: str) -> None:
    """Count the article in its story and index its bands for the next ones."""
    db.conn.execute("UPDATE stories SET article_count = article_count + 1 WHERE id = ?", [story_id])
    db.conn.executemany(
        "INSERT OR IGNORE INTO story_bands (band, value, article_id, story_id, seen_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(i, v, article_id, story_id, now) for i, v in enumerate(bands)],
    )
