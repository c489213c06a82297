"""`veille serve`: the archive in Datasette, read-only, with canned queries for the daily questions."""

from __future__ import annotations

import json
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import click

from crawler.archive.search import fts_query
from crawler.cli.common import CommandError, load, open_archive
from crawler.config import Config

INSTALL_HINT = "Datasette is not installed (hint: .venv/bin/pip install -e '.[serve]')"
DAY_AGO = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-1 day')"
WEEK_AGO = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')"
HIDDEN = (
    "story_bands",
    "article_keys",
    "_sqlite_migrations",
    "articles_fts",
    "articles_fts_data",
    "articles_fts_idx",
    "articles_fts_docsize",
    "articles_fts_config",
    "articles_fts_content",
)

QUERIES: dict[str, dict[str, Any]] = {
    "latest_articles": {
        "title": "Latest articles",
        "description": "The 200 articles seen last; leave a field empty for every source or language.",
        "params": ["source", "language"],
        # id order is first_seen order, and needs no index.
        "sql": """SELECT a.id, a.first_seen, a.published_at, a.source, a.language, a.title, a.url, a.story_id
FROM articles a
WHERE (:source = '' OR a.source = :source) AND (:language = '' OR a.language = :language)
ORDER BY a.id DESC
LIMIT 200""",
    },
    "topic_matches": {
        "title": "Matches by topic",
        "description": "Articles that matched a topic (empty: every topic), newest first, with the terms.",
        "params": ["topic"],
        "sql": """SELECT m.matched_at, m.topic, a.source, a.language, a.title, a.url,
  (SELECT group_concat(value, ', ') FROM json_each(m.terms)) AS terms,
  (SELECT group_concat(value, ', ') FROM json_each(m.fields)) AS fields,
  a.id AS article_id, a.story_id
FROM matches m JOIN articles a ON a.id = m.article_id
WHERE :topic = '' OR m.topic = :topic
ORDER BY m.matched_at DESC, m.article_id DESC
LIMIT 200""",
    },
    "topics": {
        "title": "Topics",
        "description": "Matches per topic: in the last 24 hours, 7 days, in all, and the last one.",
        "sql": f"""SELECT topic, SUM(matched_at >= {DAY_AGO}) AS last_24h,
  SUM(matched_at >= {WEEK_AGO}) AS last_7d, COUNT(*) AS total, MAX(matched_at) AS last_match
FROM matches
GROUP BY topic
ORDER BY last_match DESC""",
    },
    "search": {
        "title": "Full-text search",
        "description": "Every word required; case, accents, Arabic diacritics, hamza forms and clitics "
        "folded as in `veille search`. Snippets show the normalised text.",
        "params": ["q"],
        # veille_fts() is registered by `veille serve` (prepare_connection below): it turns the words
        # into the MATCH expression `veille search` uses, so Arabic clitics and hamza forms still match.
        "sql": """SELECT a.id, a.published_at, a.source, a.language, a.title, a.url,
  snippet(articles_fts, 1, '[', ']', ' … ', 12) AS snippet
FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
WHERE articles_fts MATCH veille_fts(:q)
ORDER BY bm25(articles_fts, 5.0, 1.0), a.published_at DESC
LIMIT 100""",
    },
    "source_health": {
        "title": "Source health",
        "description": "Failing sources first: last success, failures in a row, last error, articles in 24h.",
        "sql": f"""SELECT s.name, s.languages, s.last_success, s.consecutive_failures, s.last_error,
  s.last_error_at,
  (SELECT COUNT(*) FROM articles a WHERE a.source = s.name AND a.first_seen >= {DAY_AGO}) AS articles_24h,
  (SELECT COUNT(*) FROM articles a WHERE a.source = s.name) AS articles_total,
  (SELECT ROUND(100.0 * SUM(r.not_modified) / NULLIF(SUM(r.fetches), 0)) FROM routes r
   WHERE r.source = s.name) AS not_modified_pct
FROM sources s
ORDER BY s.consecutive_failures DESC, s.last_success IS NOT NULL, s.last_success, s.name""",
    },
    "multi_outlet_stories": {
        "title": "Stories carried by several outlets",
        "description": "Stories (reprints and wire copies, grouped by similarity) seen on several sources.",
        # article_count > 1 first: most stories are single articles, so the join stays small.
        "sql": """SELECT s.id AS story_id, s.title, COUNT(DISTINCT a.source) AS outlets, COUNT(*) AS articles,
  group_concat(DISTINCT a.source) AS sources, s.first_seen, MAX(a.first_seen) AS last_seen
FROM stories s JOIN articles a ON a.story_id = s.id
WHERE s.article_count > 1
GROUP BY s.id
HAVING COUNT(DISTINCT a.source) > 1
ORDER BY last_seen DESC
LIMIT 200""",
    },
    "unsent_deliveries": {
        "title": "Unsent alerts",
        "description": "Deliveries still pending, failed (retried later) or dead (given up): dead first.",
        "sql": """SELECT d.status, d.watcher, d.channel, d.due_at, d.attempts, d.last_error,
  (SELECT group_concat(value, ', ') FROM json_each(d.topics)) AS topics, a.title, a.url,
  d.created_at, d.id
FROM deliveries d LEFT JOIN articles a ON a.id = d.article_id
WHERE d.status IN ('pending', 'failed', 'dead')
ORDER BY CASE d.status WHEN 'dead' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END, d.due_at
LIMIT 500""",
    },
}

TABLES: dict[str, dict[str, Any]] = {
    "articles": {
        "description": "The search box matches whole words of the normalised index as typed (case and "
        "Latin accents folded); the search query also folds Arabic hamza forms and clitics.",
        # Newest first by id: first_seen has no index of its own.
        "sort_desc": "id",
        "facets": ["source", "language", "via"],
        "label_column": "title",
        "fts_table": "articles_fts",
        "fts_pk": "id",
    },
    "article_versions": {"sort_desc": "replaced_at", "facets": ["version"]},
    "stories": {"sort_desc": "id", "label_column": "title"},
    "matches": {"sort_desc": "matched_at", "facets": ["topic", "article_version"]},
    "deliveries": {
        "sort_desc": "created_at",
        "facets": ["status", "watcher", "channel"],
        "label_column": "id",
    },
    "delivery_attempts": {"sort_desc": "attempted_at", "facets": ["outcome", "channel"]},
    "sources": {"sort": "name", "label_column": "name", "facets": ["consecutive_failures"]},
    "routes": {"sort": "source", "facets": ["source", "kind", "last_status"]},
    "crawl_runs": {"sort_desc": "started_at", "facets": ["status", "source"]},
}


def database_name(path: Path) -> str:
    """The name Datasette gives a database file: its stem."""
    return path.stem


def datasette_metadata(config: Config) -> dict[str, Any]:
    """Datasette metadata for the config's archive: title, canned queries, table facets, hidden tables."""
    tables = {name: dict(options) for name, options in TABLES.items()}
    tables.update({name: {"hidden": True} for name in HIDDEN})
    return {
        "title": "Veille",
        "description": "The Veille archive of Moroccan news, read-only: articles, topic matches, stories, "
        "alerts and source health. The daemon keeps writing while you browse.",
        "databases": {
            database_name(config.database_path()): {
                "description": "Canned queries below; every time is UTC.",
                "tables": tables,
                "queries": {name: dict(query) for name, query in QUERIES.items()},
            }
        },
    }


def veille_fts(text: str | None) -> str:
    """The FTS5 MATCH expression of a search text; one that matches nothing when it has no word."""
    return fts_query(text or "") or '""'


def prepare_connection(conn: sqlite3.Connection) -> None:
    """Give a connection the veille_fts() function the search query needs."""
    conn.create_function("veille_fts", 1, veille_fts, deterministic=True)


def register_plugin() -> None:
    """Make Datasette call prepare_connection on each connection it opens."""
    from datasette import hookimpl
    from datasette.plugins import pm

    if pm.get_plugin("veille") is None:
        plugin = type("VeillePlugin", (), {"prepare_connection": staticmethod(hookimpl(prepare_connection))})
        pm.register(plugin, name="veille")


def datasette_args(database: Path, metadata: Path, host: str, port: int) -> list[str]:
    """The `datasette serve` arguments: mutable, so the daemon's writes show up (Datasette reads
    mutable files with mode=ro connections and only writes for write canned queries, which we lack)."""
    return [
        str(database),
        "--metadata",
        str(metadata),
        "--host",
        host,
        "--port",
        str(port),
        "--setting",
        "truncate_cells_html",
        "300",
        "--setting",
        "sql_time_limit_ms",
        "5000",
    ]


def check_port(host: str, port: int) -> None:
    """A clean error, before Datasette starts, when the address is unknown or taken."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (hint: choose another --port)"
        ) from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Browse the archive in Datasette (read-only), with canned queries.

    Example: veille serve --port 8001
    """
    config = load(ctx)
    database = config.database_path()
    if not database.is_file():
        raise CommandError(f"{database}: no archive yet (hint: run veille crawl first)")
    try:
        from datasette.cli import serve as datasette_serve
    except ImportError:
        raise CommandError(INSTALL_HINT) from None
    check_port(host, port)
    open_archive(config).close()  # brings an older archive's schema up to date for the queries
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: anyone who can reach {host}:{port} can read the whole archive", err=True)
    register_plugin()
    with tempfile.TemporaryDirectory(prefix="veille-serve-") as tmp:
        metadata = Path(tmp) / "metadata.json"
        metadata.write_text(json.dumps(datasette_metadata(config), ensure_ascii=False, indent=2), "utf-8")
        click.echo(f"Serving {database} read-only on http://{host}:{port}/ (Ctrl-C stops)", err=True)
        datasette_serve.main(
            datasette_args(database, metadata, host, port), prog_name="datasette serve", standalone_mode=False
        )
