"""`veille serve`: the archive in Datasette, read-only, with canned queries for the daily questions
(their SQL is in crawler/archive/reports.py)."""

from __future__ import annotations

import json
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import click

from crawler.archive.reports import CANNED_QUERIES as QUERIES
from crawler.archive.search import fts_query
from crawler.cli.common import CommandError, load, open_archive
from crawler.config import Config

INSTALL_HINT = "Datasette is not installed (hint: .venv/bin/pip install -e '.[serve]')"
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
