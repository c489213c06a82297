"""The archive: one SQLite file through sqlite-utils (WAL, migrations): open, store articles, look up."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from crawler.archive import routes, runs
from crawler.archive.schema import migrate
from crawler.archive.search import reindex
from crawler.archive.stories import join_story, similar_story
from crawler.archive.transaction import write_transaction
from crawler.exceptions import StorageError
from crawler.extract.dates import utc_now_iso
from crawler.extract.digest import Texts, indexed_texts
from crawler.extract.fingerprint import lsh_bands
from crawler.runs import SourceRun

if TYPE_CHECKING:
    from crawler.config import Config


@dataclass(frozen=True)
class StoredArticle:
    """An article ready for the archive: fields plus identity keys and fingerprints."""

    keys: tuple[str, ...]
    fields: dict[str, Any]
    content_hash: str
    minhash: bytes
    texts: Texts | None = None  # normalised title, summary, body (indexed_texts)


@dataclass(frozen=True)
class StoreResult:
    """What storing one article did: 'new', 'updated' or 'duplicate'."""

    outcome: str
    article_id: int
    story_id: int | None


# Called for each article stored, inside its savepoint, with the normalised texts when known: the
# matching that writes matches and deliveries (alerts.outbox.matching), kept atomic with the article.
AfterStore = Callable[[sqlite3.Connection, StoreResult, Texts | None], None]


def open_database(path: Path | str) -> Database:
    """Open (creating if needed) the SQLite file in WAL mode with the schema up to date."""
    try:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30)
        db = Database(conn)
        db.execute("PRAGMA busy_timeout = 30000")
        if str(path) != ":memory:":
            db.enable_wal()
            # In WAL mode, NORMAL survives any crash of the process; only a power cut can drop the
            # last commits, and those articles are simply crawled again at the next cycle.
            db.execute("PRAGMA synchronous = NORMAL")
        migrate(db)
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(
            f"{path}: cannot open the archive: {exc} (hint: check the path, free disk space and permissions)"
        ) from exc
    return db


class Archive:
    """Articles, stories, fetch state and crawl runs in one SQLite database."""

    def __init__(
        self,
        db: Database,
        story_similarity: float = 0.6,
        story_window_days: int = 7,
        path: Path | str = ":memory:",
    ) -> None:
        self.db = db
        self.path = path
        self.story_similarity = story_similarity
        self.story_window_days = story_window_days

    @classmethod
    def open(cls, path: Path | str, **options: float) -> Archive:
        """Open the archive file at `path`."""
        return cls(open_database(path), path=path, **options)

    @classmethod
    def for_config(cls, config: Config) -> Archive:
        """The archive a config names (VEILLE_DB wins), with its story settings."""
        return cls.open(
            config.database_path(),
            story_similarity=config.settings.story_similarity,
            story_window_days=config.settings.story_window_days,
        )

    def close(self) -> None:
        """Close the connection (pending writes are already committed)."""
        self.db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups -------------------------------------------------------------------------------

    def lookup(self, keys: Iterable[str]) -> dict[str, Any] | None:
        """The stored article known under any of `keys` (id, source_updated, first_seen), or None."""
        keys = list(keys)
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT a.id, a.source_updated, a.first_seen FROM article_keys k JOIN articles a "
            f"ON a.id = k.article_id WHERE k.key IN ({marks}) ORDER BY a.id LIMIT 1",
            keys,
        ).fetchall()
        return {"id": rows[0][0], "source_updated": rows[0][1], "first_seen": rows[0][2]} if rows else None

    def retry_after_until(self, url: str) -> str | None:
        """Until when the server of this route asked us not to come back, if it did."""
        return routes.retry_after_until(self.db, url)

    def set_retry_after(self, url: str, source: str, kind: str, seconds: float) -> None:
        """Remember a long Retry-After: the route is skipped until then."""
        routes.set_retry_after(self.db, url, source, kind, seconds)

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """The ETag and Last-Modified last seen for a feed or sitemap URL."""
        return routes.validators(self.db, url)

    # -- writes --------------------------------------------------------------------------------

    def store(self, article: StoredArticle) -> StoreResult:
        """Insert a new article, update a changed one (keeping history), or report a duplicate."""
        [result] = self.store_many([article])
        if isinstance(result, Exception):
            raise result
        return result

    def store_many(
        self, articles: list[StoredArticle], after_store: AfterStore | None = None
    ) -> list[StoreResult | Exception]:
        """Store several articles in one transaction, calling `after_store` for each inside its
        savepoint; one article that fails is rolled back alone."""
        results: list[StoreResult | Exception] = []
        index: dict[int, Texts] = {}
        with self.write():
            for article in articles:
                try:
                    with self.db.atomic():  # a savepoint per article
                        result, texts = self._store_one(article)
                        if after_store is not None:
                            after_store(self.db.conn, result, texts)
                        results.append(result)
                except Exception as exc:  # a poisoned article (bad text, a matcher bug) costs only itself
                    if not self.db.conn.in_transaction:
                        raise  # SQLite dropped the whole transaction (disk full): the batch failed
                    results.append(exc)
                    continue
                if texts is not None:
                    index[result.article_id] = texts
            # Indexed once per batch, outside the savepoints: FTS5 writes its pending terms out as a
            # new segment each time a savepoint is released, which cost more than the rest of storing.
            reindex(self.db.conn, index)
        return results

    def _store_one(self, article: StoredArticle) -> tuple[StoreResult, Texts | None]:
        """Store the article; also return the normalised texts to index, unless it is a duplicate."""
        found = self.lookup(article.keys)
        if found is None:
            return self._insert(article)
        return self._refresh(found["id"], article)

    @contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction taken at once (BEGIN IMMEDIATE), so a concurrent crawl waits for the
        busy timeout instead of failing between our lookup and our insert."""
        with write_transaction(self.db.conn):
            yield

    def _insert_row(self, table: str, row: dict[str, Any]) -> int:
        # Plain SQL: sqlite-utils' insert() inspects the table on every call, a third of the cost here.
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        cursor = self.db.conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))
        return cursor.lastrowid

    def _insert(self, article: StoredArticle) -> tuple[StoreResult, Texts]:
        now = utc_now_iso()
        keys = lsh_bands(article.minhash)
        story_id = (
            similar_story(self.db, article.minhash, keys, self.story_similarity, self.story_window_days)
            if keys
            else None
        )
        if keys and story_id is None:
            story_id = self._insert_row(
                "stories", {"first_seen": now, "title": article.fields.get("title"), "article_count": 0}
            )
        row = dict(
            article.fields,
            first_seen=now,
            content_hash=article.content_hash,
            minhash=article.minhash or None,
            story_id=story_id,
        )
        article_id = self._insert_row("articles", row)
        self._add_keys(article_id, article.keys)
        if story_id is not None:
            join_story(self.db, article_id, story_id, keys, now)
        texts = article.texts or indexed_texts(
            article.fields.get("title"), article.fields.get("summary"), article.fields.get("body")
        )
        return StoreResult("new", article_id, story_id), texts

    def _refresh(self, article_id: int, article: StoredArticle) -> tuple[StoreResult, Texts | None]:
        self._add_keys(article_id, article.keys)
        old = self.db["articles"].get(article_id)
        body_lost = old["body"] and not article.fields.get("body")  # e.g. a feed's summary only
        if old["content_hash"] == article.content_hash or body_lost or not article.fields.get("title"):
            updated = article.fields.get("source_updated")
            if updated and updated > (old["source_updated"] or ""):
                # The route said "changed" but the text is the same: remember the date it gave, or
                # the page would be fetched again at every crawl while that route shows it.
                self.db.conn.execute(
                    "UPDATE articles SET source_updated = ? WHERE id = ?", [updated, article_id]
                )
            return StoreResult("duplicate", article_id, old["story_id"]), None
        now = utc_now_iso()
        self.db["article_versions"].insert(
            {
                "article_id": article_id,
                "version": old["version"],
                "title": old["title"],
                "summary": old["summary"],
                "body": old["body"],
                "author": old["author"],
                "published_at": old["published_at"],
                "content_hash": old["content_hash"],
                "replaced_at": now,
            }
        )
        changes = {k: v for k, v in article.fields.items() if k not in ("source", "url") and v}
        changes.update(
            content_hash=article.content_hash,
            minhash=article.minhash or None,
            updated_at=now,
            version=old["version"] + 1,
        )
        self.db["articles"].update(article_id, changes)
        row = self.db["articles"].get(article_id)
        return (
            StoreResult("updated", article_id, old["story_id"]),
            indexed_texts(row["title"], row["summary"], row["body"]),
        )

    def _add_keys(self, article_id: int, keys: Iterable[str]) -> None:
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO article_keys (key, article_id) VALUES (?, ?)",
            [(k, article_id) for k in keys],
        )

    def record_fetch(
        self,
        url: str,
        source: str,
        kind: str,
        status: int | None,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
    ) -> None:
        """Remember a feed/sitemap fetch: status, validators for the next conditional GET."""
        routes.record_fetch(self.db, url, source, kind, status, etag, last_modified, error)

    def record_page_failure(
        self, key: str, url: str, source: str, error: str, now: datetime | None = None
    ) -> str:
        """Remember that an article page failed and back it off; returns when it may be tried again."""
        return routes.record_page_failure(self.db, key, url, source, error, now)

    def page_retry_at(self, keys: Iterable[str]) -> str | None:
        """When an article page that failed may be tried again (None: it never failed)."""
        return routes.page_retry_at(self.db, keys)

    def forget_page_failures(self, keys: Iterable[str]) -> None:
        """The page worked: its failures are history."""
        routes.forget_page_failures(self.db, keys)

    def save_validators(self, url: str, etag: str | None, last_modified: str | None) -> None:
        """Keep a route's ETag and Last-Modified for the next conditional GET."""
        routes.save_validators(self.db, url, etag, last_modified)

    def sync_sources(self, sources: Iterable[Any]) -> None:
        """Make sure every configured source has its row."""
        runs.sync_sources(self.db, sources)

    def record_run(self, run: SourceRun) -> None:
        """Store one source's crawl outcome and update its health row."""
        runs.record_run(self.db, run)
