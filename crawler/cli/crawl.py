"""`veille check`, `crawl`, `run`, `status`, `sources` and `search`: each a few lines over the library."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import timedelta

import click

from alerts.explain import with_original_snippets
from crawler.archive.articles import Archive
from crawler.archive.reports import has_articles, source_health
from crawler.archive.search import search
from crawler.cli.common import CommandError, load, open_archive, parse_since, send_due
from crawler.cli.text import format_table, render_summary, shorten
from crawler.config import read_settings
from crawler.config.yamlconf import LANGUAGES
from crawler.exceptions import VeilleError
from crawler.extract.dates import format_utc, utc_now
from crawler.runs import SourceRun


@click.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate every config file; exit 1 on any error.

    Example: veille --config ./config check
    """
    config = load(ctx)
    langs: dict[str, int] = {}
    for source in config.sources:
        for lang in source.languages:
            langs[lang] = langs.get(lang, 0) + 1
    spread = "".join(f"; {n} {lang}" for lang, n in sorted(langs.items()))
    enabled = sum(s.enabled for s in config.sources)
    topics = len(config.topics.enabled())
    click.echo(
        f"{config.directory}: OK: {len(config.sources)} sources ({enabled} enabled{spread}); "
        f"{topics} topics; {len(config.watchers)} watchers; database {config.database_path()}"
    )
    from alerts.backtest import broad_term_warnings
    from crawler.config.topics import lint_topics

    warnings = config.settings.warnings(config.directory / "settings.yaml")
    warnings += lint_topics(config.topics, {s.name: s.languages for s in config.sources})
    if config.database_path().exists():
        archive = open_archive(config)
        warnings += broad_term_warnings(archive.db, config.topics)
        archive.close()
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log on stderr.")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Write the full crawl log here.")
@click.option("--no-alerts", is_flag=True, help="Do not send the alerts that are due after the crawl.")
@click.pass_context
def crawl(
    ctx: click.Context, sources: tuple[str, ...], verbose: bool, log_file: str | None, no_alerts: bool
) -> None:
    """Crawl the given sources (default: all enabled ones) once, then print a summary.

    Exit code 0 when every source succeeded, 1 when some failed.

    Example: veille crawl hespress-ar telquel
    """
    from crawler.runner import crawl_once  # imports Scrapy and Twisted: only when crawling

    config = load(ctx)
    known = {s.name for s in config.sources}
    unknown = [name for name in sources if name not in known]
    if unknown:
        raise CommandError(
            f"unknown source(s): {', '.join(unknown)} "
            f"(hint: `veille sources` lists the {len(known)} configured ones)"
        )
    total = len(sources) or sum(s.enabled for s in config.sources)
    done: list[SourceRun] = []

    def progress(run: SourceRun) -> None:
        done.append(run)
        click.echo(
            f"[{len(done):>3}/{total}] {run.source:<22} {run.status:<7} "
            f"new {run.new:<4} dup {run.duplicate:<4} err {run.errors}",
            err=True,
        )

    level = "INFO" if verbose or log_file else "CRITICAL"
    try:
        runs = crawl_once(config, list(sources) or None, progress, level, log_file)
    except VeilleError as exc:
        raise CommandError(str(exc)) from exc
    click.echo(render_summary(runs))
    if not no_alerts and config.watchers:
        click.echo(send_due(config))
    sys.exit(0 if all(run.succeeded for run in runs) else 1)


@click.command()
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="Log lines as text or JSON (default: log_format in settings.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also Scrapy's and the libraries' own INFO lines.")
@click.pass_context
def run(ctx: click.Context, log_format: str | None, verbose: bool) -> None:
    """Run the daemon: every source on its schedule, alerts as they are due, config reloaded on edit.

    Stops cleanly on SIGTERM or Ctrl-C; SIGHUP reloads the config at once.

    Example: veille run --log-format json
    """
    from scheduler import run_daemon  # imports Scrapy and Twisted: only when running

    config = load(ctx)
    try:
        code = run_daemon(config, log_format, verbose)
    except VeilleError as exc:
        raise CommandError(str(exc)) from exc
    sys.exit(code)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Is the daemon running; its jobs and next runs; each source's last result; the outbox.

    Exit code 0 when the daemon runs, 3 when it does not.

    Example: veille status
    """
    from crawler.archive.state import read_status_at
    from crawler.cli.status import render_status, status_json

    # Only the database is needed, read-only: status must work while a broken edit waits to be fixed.
    settings, _ = read_settings(ctx.obj["config_dir"])
    path = settings.database_path(dict(os.environ))
    if not path.exists():  # the daemon creates it at start: not running, and never ran here
        message = (
            f"not running: {path}: no archive here (hint: start the daemon with `veille run`, "
            "or set VEILLE_DB to the daemon's database)"
        )
        click.echo(
            json.dumps({"running": False, "database": str(path), "problem": message}) if as_json else message
        )
        sys.exit(3)
    try:
        found = read_status_at(path)
    except sqlite3.Error as exc:
        raise CommandError(
            f"{path}: cannot read the daemon's state: {exc} (hint: an archive from an "
            "older version is upgraded by `veille run`)"
        ) from exc
    now = utc_now()
    click.echo(status_json(found, now) if as_json else render_status(found, now))
    sys.exit(0 if found.running(now) else 3)


@click.command()
@click.pass_context
def sources(ctx: click.Context) -> None:
    """Health of each source: last success, last error, articles in 24 h, 304 rate.

    Example: veille sources
    """
    config = load(ctx, sends=False)
    path = config.database_path()
    # Listing the configured sources must not create an empty archive as a side effect.
    archive = open_archive(config) if path.exists() else Archive.open(":memory:")
    since = format_utc(utc_now() - timedelta(hours=24))
    health = source_health(archive.db, [s.name for s in config.sources], since)
    archive.close()
    langs = {s.name: ",".join(s.languages) for s in config.sources}
    rows = [
        (
            h.name,
            langs[h.name],
            h.last_success or "never",
            h.articles_24h,
            h.articles_total,
            "-" if h.not_modified_rate is None else f"{h.not_modified_rate:.0%}",
            h.consecutive_failures,
            shorten(h.last_error or "", 60),
        )
        for h in health
    ]
    click.echo(
        format_table(
            ("source", "lang", "last success", "24h", "total", "304 rate", "failures", "last error"), rows
        )
    )
    if not path.exists():
        click.echo(
            f"{path}: no archive yet, so nothing crawled (hint: `veille crawl` or `veille run` "
            "creates it; VEILLE_DB or the database setting names another file)"
        )


@click.command(name="search")
@click.argument("query")
@click.option("--lang", help="Only articles in this language (fr, ar, en, es, amz).")
@click.option("--source", help="Only articles of this source.")
@click.option("--since", help="Only articles published since a date or a duration (7d, 12h).")
@click.option("--limit", default=20, show_default=True, help="Number of results.")
@click.pass_context
def search_command(
    ctx: click.Context, query: str, lang: str | None, source: str | None, since: str | None, limit: int
) -> None:
    """Full-text search of the archive (accents, diacritics and Arabic clitics folded).

    Example: veille search "intelligence artificielle" --lang fr --since 30d
    """
    config = load(ctx, sends=False)
    lower = parse_since(since)
    if lang and lang not in LANGUAGES:  # a typo would just find nothing
        raise CommandError(
            f"--lang {lang!r}: not a language code (hint: one of {', '.join(sorted(LANGUAGES))})"
        )
    archive = open_archive(config, existing=True)
    if source and source not in {s.name for s in config.sources} and not has_articles(archive.db, source):
        archive.close()
        raise CommandError(
            f"--source {source!r}: no such source and no article from it (hint: `veille sources` lists them)"
        )
    hits = with_original_snippets(
        archive.db, search(archive.db, query, language=lang, source=source, since=lower, limit=limit), query
    )
    archive.close()
    if not hits:
        click.echo("no article found", err=True)
        return
    for hit in hits:
        click.echo(
            f"#{hit.id}  {hit.published_at or '?'}  {hit.source}  [{hit.language or '?'}]\n"
            f"  {shorten(hit.title, 100)}\n  {hit.url}\n  {shorten(hit.snippet, 160)}"
        )
