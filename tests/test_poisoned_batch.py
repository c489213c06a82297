"""One poisoned article never costs another: it fails alone, and it is backed off like a failed page."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from crawler.archive.articles import Archive, StoredArticle, StoreResult
from crawler.extract.digest import digest_text
from crawler.extract.urls import identity_keys
from crawler.items import ArticleItem
from crawler.pipelines import ArchivePipeline, build_record
from crawler.runs import SourceRun
from crawler.writer import BatchWriter


def item(n: int, title: str = "") -> ArticleItem:
    return ArticleItem(
        source="s",
        url=f"https://s.ma/a-{n}",
        link=f"https://s.ma/a-{n}",
        title=title or f"Titre {n}",
        body=f"Le port de Tanger Med numéro {n} bat un record, selon l'autorité portuaire {n * 7919}.",
    )


def raw(n: int, title: str) -> StoredArticle:
    """A record that skipped build_record's cleaning (what a bug upstream would hand the archive)."""
    fields = {"source": "s", "url": f"https://s.ma/raw-{n}", "title": title, "body": "texte"}
    digest = digest_text("x", None, "texte")
    return StoredArticle(
        (f"url:s.ma/raw-{n}",), fields, digest.content_hash, digest.fingerprint, digest.texts
    )


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    archive = Archive.open(tmp_path / "a.db")
    yield archive
    archive.close()


def test_a_lone_surrogate_fails_alone_and_the_batch_is_kept(archive: Archive) -> None:
    good = [build_record(item(n)) for n in (1, 2)]
    results = archive.store_many([good[0], raw(3, "titre \ud800 cassé"), good[1]])
    assert [type(r).__name__ for r in results] == ["StoreResult", "UnicodeEncodeError", "StoreResult"]
    assert archive.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 2


def test_a_hook_that_raises_for_one_article_costs_only_that_one(archive: Archive) -> None:
    def after_store(conn: sqlite3.Connection, result: StoreResult, texts: object) -> None:
        [url] = conn.execute("SELECT url FROM articles WHERE id = ?", [result.article_id]).fetchone()
        if url.endswith("a-2"):
            raise RuntimeError("a matcher bug")
        conn.execute("INSERT INTO daemon_state (key, value) VALUES (?, 'matched')", [str(result.article_id)])

    results = archive.store_many([build_record(item(n)) for n in (1, 2, 3)], after_store)
    assert [type(r).__name__ for r in results] == ["StoreResult", "RuntimeError", "StoreResult"]
    # The failed article's row and its hook's writes went back together; the others kept theirs.
    assert archive.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 2
    assert archive.db.execute("SELECT COUNT(*) FROM daemon_state").fetchone()[0] == 2


def test_a_batch_that_fails_as_a_whole_is_stored_article_by_article(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Archive.store_many

    def poisoned_batch(self: Archive, records: list[StoredArticle], after_store: object = None) -> list:
        if len(records) > 1:  # e.g. the FTS index refusing the batch's text
            raise ValueError("the batch's index write failed")
        if records[0].fields["url"].endswith("a-2"):
            raise ValueError("this one is poisoned")
        return real(self, records, after_store)

    monkeypatch.setattr(Archive, "store_many", poisoned_batch)

    async def scenario() -> list[object]:
        writer = BatchWriter(lambda: Archive.open(archive.path), max_batch=3)
        try:
            return await asyncio.gather(
                *(writer.store(build_record(item(n))) for n in (1, 2, 3)), return_exceptions=True
            )
        finally:
            await writer.close()

    results = asyncio.run(scenario())
    assert [type(r).__name__ for r in results] == ["StoreResult", "ValueError", "StoreResult"]
    assert archive.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 2


def test_an_article_that_cannot_be_stored_is_backed_off_like_a_failed_page(archive: Archive) -> None:
    async def scenario() -> None:
        pipeline = ArchivePipeline(
            BatchWriter(lambda: _refusing(archive.path)),
            {"s": SourceRun("s", "r", "t")},
            path=str(archive.path),
            failures=archive,
        )
        try:
            with pytest.raises(ValueError, match="refused"):
                await pipeline.process_item(item(4))
        finally:
            await pipeline.close_spider()

    asyncio.run(scenario())
    keys = identity_keys("https://s.ma/a-4")
    retry_at = archive.page_retry_at(keys)
    assert retry_at is not None  # not fetched again at the next poll
    [(error,)] = archive.db.execute("SELECT last_error FROM page_failures").fetchall()
    assert error.startswith("article https://s.ma/a-4: not stored: ValueError: refused")


class _Refusing(Archive):
    def store_many(self, records: list[StoredArticle], after_store: object = None) -> list:
        return [ValueError("refused: a poisoned field")] * len(records)


def _refusing(path: object) -> Archive:
    archive = Archive.open(path)  # type: ignore[arg-type]
    archive.__class__ = _Refusing
    return archive
