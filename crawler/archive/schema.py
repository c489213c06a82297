"""The archive's schema, applied as sqlite-utils migrations (never edit one that has shipped)."""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("veille")


@migrations()
def m001_archive(db: Database) -> None:
    """Sources, fetch state, articles with keys and history, stories, crawl runs, FTS."""
    db.execute("""
        CREATE TABLE sources (
            name TEXT PRIMARY KEY, title TEXT, languages TEXT,
            last_attempt TEXT, last_success TEXT, last_error TEXT, last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0)""")
    db.execute("""
        CREATE TABLE routes (
            url TEXT PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL,
            etag TEXT, last_modified TEXT, last_status INTEGER, last_fetch_at TEXT,
            fetches INTEGER NOT NULL DEFAULT 0, not_modified INTEGER NOT NULL DEFAULT 0,
            last_error TEXT, retry_after_until TEXT)""")
    db.execute("""
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY, first_seen TEXT NOT NULL, title TEXT,
            article_count INTEGER NOT NULL DEFAULT 1)""")
    db.execute("""
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY, url TEXT NOT NULL, source TEXT NOT NULL,
            title TEXT, summary TEXT, body TEXT, author TEXT, language TEXT,
            published_at TEXT, first_seen TEXT NOT NULL, updated_at TEXT, source_updated TEXT,
            story_id INTEGER REFERENCES stories(id), guid TEXT, via TEXT,
            content_hash TEXT NOT NULL, minhash BLOB, version INTEGER NOT NULL DEFAULT 1)""")
    db.execute("CREATE INDEX articles_source_seen ON articles(source, first_seen)")
    db.execute("CREATE INDEX articles_published ON articles(published_at)")
    db.execute("CREATE INDEX articles_story ON articles(story_id)")
    db.execute("""
        CREATE TABLE article_keys (
            key TEXT PRIMARY KEY, article_id INTEGER NOT NULL REFERENCES articles(id))""")
    db.execute("CREATE INDEX article_keys_article ON article_keys(article_id)")
    db.execute("""
        CREATE TABLE article_versions (
            id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL REFERENCES articles(id),
            version INTEGER NOT NULL, title TEXT, summary TEXT, body TEXT, author TEXT,
            published_at TEXT, content_hash TEXT, replaced_at TEXT NOT NULL)""")
    db.execute("""
        CREATE TABLE story_bands (
            band INTEGER NOT NULL, value INTEGER NOT NULL, article_id INTEGER NOT NULL,
            story_id INTEGER NOT NULL, seen_at TEXT NOT NULL,
            PRIMARY KEY (band, value, article_id))""")
    db.execute("""
        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, source TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
            found INTEGER NOT NULL DEFAULT 0, new INTEGER NOT NULL DEFAULT 0,
            duplicate INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0,
            not_modified INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
            error TEXT)""")
    db.execute("CREATE INDEX crawl_runs_source ON crawl_runs(source, started_at)")
    # Normalised copies of title and body: unicode61 alone splits vocalised Arabic into letters.
    db.execute("""
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, body, tokenize = 'unicode61 remove_diacritics 2')""")


@migrations()
def m002_matches(db: Database) -> None:
    """Which topics each article matched, by which terms, where."""
    db.execute("""
        CREATE TABLE matches (
            article_id INTEGER NOT NULL REFERENCES articles(id), topic TEXT NOT NULL,
            terms TEXT NOT NULL, fields TEXT NOT NULL, spans TEXT NOT NULL,
            article_version INTEGER NOT NULL, matched_at TEXT NOT NULL,
            PRIMARY KEY (article_id, topic))""")
    db.execute("CREATE INDEX matches_topic ON matches(topic, matched_at)")


@migrations()
def m003_deliveries(db: Database) -> None:
    """The outbox: what each watcher is owed, per story and channel, and when it is due."""
    db.execute("""
        CREATE TABLE deliveries (
            id TEXT PRIMARY KEY, watcher TEXT NOT NULL, story_key TEXT NOT NULL,
            channel TEXT NOT NULL, article_id INTEGER NOT NULL REFERENCES articles(id),
            articles TEXT NOT NULL, topics TEXT NOT NULL, status TEXT NOT NULL,
            due_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            created_at TEXT NOT NULL, sent_at TEXT,
            UNIQUE (watcher, story_key, channel))""")
    db.execute("CREATE INDEX deliveries_due ON deliveries(status, due_at)")


@migrations()
def m004_delivery_attempts(db: Database) -> None:
    """The ledger: every attempt to send a delivery, with its outcome."""
    db.execute("""
        CREATE TABLE delivery_attempts (
            id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL REFERENCES deliveries(id),
            attempted_at TEXT NOT NULL, channel TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT)""")
    db.execute("CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id)")


@migrations()
def m005_daemon(db: Database) -> None:
    """Admin notices (an outbox of their own), open source problems, and what the daemon publishes."""
    db.execute("""
        CREATE TABLE notices (
            id TEXT PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
            body TEXT NOT NULL, watcher TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
            due_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            created_at TEXT NOT NULL, sent_at TEXT)""")
    db.execute("CREATE INDEX notices_due ON notices(status, due_at)")
    db.execute("""
        CREATE TABLE source_problems (
            source TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, raised_at TEXT NOT NULL,
            PRIMARY KEY (source, kind))""")
    db.execute("""
        CREATE TABLE daemon_jobs (
            id TEXT PRIMARY KEY, trigger TEXT NOT NULL, next_run TEXT, last_run TEXT,
            last_status TEXT, last_error TEXT)""")
    db.execute("CREATE TABLE daemon_state (key TEXT PRIMARY KEY, value TEXT)")


@migrations()
def m006_page_failures(db: Database) -> None:
    """Article pages that failed, waiting with a growing delay before they are tried again."""
    db.execute("""
        CREATE TABLE page_failures (
            key TEXT PRIMARY KEY, url TEXT NOT NULL, source TEXT NOT NULL,
            failures INTEGER NOT NULL, last_error TEXT, last_failed_at TEXT NOT NULL,
            retry_at TEXT NOT NULL)""")


@migrations()
def m007_claims(db: Database) -> None:
    """Who is sending a delivery or notice, and until when that claim holds (status 'sending')."""
    for table in ("deliveries", "notices"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN claimed_by TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN claimed_until TEXT")


def migrate(db: Database) -> None:
    """Bring the database schema up to date."""
    migrations.apply(db)
