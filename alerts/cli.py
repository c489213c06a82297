"""`veille try` and `veille backtest`: let an admin test topics before trusting them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from alerts.backtest import archive_articles, render_backtest, run_backtest
from alerts.channels import not_retried
from alerts.explain import render_json, render_text
from alerts.matcher import Article, Matcher
from crawler.archive.articles import Archive
from crawler.clitools import CommandError, load, open_archive, parse_since
from crawler.config import Config
from crawler.config.topics import Topics, lint_topics, load_topics
from crawler.exceptions import ConfigError
from crawler.extract.dates import format_utc, utc_now
from crawler.extract.language import choose_language
from crawler.tables import format_table, shorten


def candidate_topics(config: Config, path: str | None) -> Topics:
    """The topics of --keywords FILE, or the live ones."""
    if not path:
        return config.topics
    try:
        return load_topics(Path(path), {s.name for s in config.sources})
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc


@click.command(name="try")
@click.argument("text", required=False)
@click.option(
    "--file", "file_path", type=click.Path(exists=True, dir_okay=False), help="Read the text from a file."
)
@click.option("--article", "article_id", type=int, help="Use an archived article (its id).")
@click.option(
    "--keywords",
    type=click.Path(exists=True, dir_okay=False),
    help="A candidate keywords file instead of the live one.",
)
@click.option("--title", help="The text's title, for topics that look only at titles.")
@click.option(
    "--lang",
    help="The text's language (fr, ar, en, es, amz), for topics restricted by language; "
    "detected from the text when left out, as the crawler does.",
)
@click.option("--source", help="The text's source, for topics restricted by source.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def try_command(
    ctx: click.Context,
    text: str | None,
    file_path: str | None,
    article_id: int | None,
    keywords: str | None,
    title: str | None,
    lang: str | None,
    source: str | None,
    as_json: bool,
) -> None:
    """Show which topics a text matches, by which terms, where, and why near misses did not.

    Example: veille try "Le Maroc mise sur l'IA générative"
    """
    config = load(ctx, sends=False)
    article = _article(config, text, file_path, article_id, title, lang, source)
    explanation = Matcher(candidate_topics(config, keywords).enabled()).explain(article)
    if as_json:
        click.echo(json.dumps(render_json(explanation), ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(explanation, article, ansi=sys.stdout.isatty()))


def _article(
    config: Config,
    text: str | None,
    file_path: str | None,
    article_id: int | None,
    title: str | None,
    lang: str | None,
    source: str | None,
) -> Article:
    if article_id is not None:
        archive = open_archive(config, existing=True)
        row = archive.db.execute(
            "SELECT title, summary, body, language, source FROM articles WHERE id = ?", [article_id]
        ).fetchone()
        archive.close()
        if row is None:
            raise CommandError(f"no article {article_id} in the archive (hint: `veille search` shows ids)")
        return Article(row[0] or "", row[1] or "", row[2] or "", lang or row[3], source or row[4])
    if file_path:
        text = Path(file_path).read_text("utf-8")
    if not (text or title):
        raise CommandError('give a text, --file PATH or --article ID (hint: veille try "texte")')
    known = {s.name: s.languages for s in config.sources}
    # As the crawler does: the text's language when it is long enough, else the source's.
    language = lang or choose_language(" ".join(filter(None, (title, text))), [], known.get(source or "", ()))
    return Article(title=title or "", body=text or "", language=language, source=source)


@click.command()
@click.option(
    "--keywords",
    type=click.Path(exists=True, dir_okay=False),
    help="The candidate keywords file (default: the live one).",
)
@click.option("--since", default="30d", show_default=True, help="Articles since a duration or a date.")
@click.option("--samples", default=3, show_default=True, help="Sample articles per topic.")
@click.pass_context
def backtest(ctx: click.Context, keywords: str | None, since: str, samples: int) -> None:
    """Run the live or a candidate keywords file over the archive and compare before saving it.

    Example: veille backtest --keywords /tmp/keywords.yaml --since 30d
    """
    config = load(ctx, sends=False)
    candidate = candidate_topics(config, keywords)
    lower = parse_since(since)
    archive = open_archive(config, existing=True)
    result = run_backtest(archive_articles(archive.db, lower), config.topics, candidate, samples)
    archive.close()
    names = list(dict.fromkeys(t.name for t in candidate.enabled() + config.topics.enabled()))
    click.echo(
        f"{result.articles} articles since {since}; live {config.topics.path}, candidate {candidate.path}"
    )
    click.echo(
        format_table(
            ("topic", "live", "candidate", "gained", "lost", "busiest day"), render_backtest(result, names)
        )
    )
    for name in names:
        stats = result.candidate.get(name)
        if stats is None:
            continue
        days = " ".join(f"{day}:{n}" for day, n in sorted(stats.days.items())[-14:])
        click.echo(f"\n{name}: per day {days}")
        for sample in stats.samples:
            click.echo(
                f"  #{sample['id']} {sample['day']} {sample['source']}: "
                f"{shorten(sample['title'], 80)} [{', '.join(sample['terms'])}]"
            )
    languages = {s.name: s.languages for s in config.sources}
    for warning in lint_topics(candidate, languages):
        click.echo(f"warning: {warning}", err=True)
    for term, share in result.broad_terms():
        click.echo(
            f"warning: '{term}' matches {share:.0%} of the {result.articles} articles (hint: make "
            "it narrower: a phrase, exact_case, or a NEAR query)",
            err=True,
        )


@click.group(invoke_without_command=True)
@click.option("--watcher", help="Only this watcher's deliveries.")
@click.option("--topic", help="Only deliveries for this topic.")
@click.option(
    "--state",
    type=click.Choice(["pending", "failed", "sent", "dead", "suppressed"]),
    help="Only deliveries in this state.",
)
@click.option("--limit", default=30, show_default=True)
@click.pass_context
def alerts(ctx: click.Context, watcher: str | None, topic: str | None, state: str | None, limit: int) -> None:
    """Recent deliveries with their status; `alerts test` and `alerts retry` below.

    Example: veille alerts --state failed
    """
    if ctx.invoked_subcommand:
        return
    config = load(ctx, sends=False)
    archive = open_archive(config, existing=True)
    where, params = [], []
    for column, value in (("d.watcher", watcher), ("d.status", state)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if topic:
        where.append("d.topics LIKE ?")
        params.append(f'%"{topic}"%')
    sql = (
        "SELECT d.id, d.watcher, d.channel, d.status, d.attempts, d.due_at, d.sent_at, d.topics, "
        "a.title, d.last_error FROM deliveries d JOIN articles a ON a.id = d.article_id "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY d.created_at DESC LIMIT ?"
    )
    rows = archive.db.execute(sql, [*params, limit]).fetchall()
    archive.close()
    if not rows:
        _check_names(config, watcher, topic)  # a typo is an error, not an empty history
    click.echo(
        format_table(
            ("id", "watcher", "channel", "status", "tries", "due", "sent", "topics", "article", "last error"),
            [
                (
                    r[0][:8],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6] or "-",
                    ",".join(json.loads(r[7])),
                    shorten(r[8], 40),
                    shorten(r[9] or "", 50),
                )
                for r in rows
            ],
        )
    )


def _check_names(config: Config, watcher: str | None, topic: str | None) -> None:
    for option, name, file, names in (
        ("watcher", watcher, "watchers.yaml", [w.name for w in config.watchers]),
        ("topic", topic, "keywords.yaml", [t.name for t in config.topics.topics]),
    ):
        if name and name not in names:
            raise CommandError(
                f"--{option} {name!r}: no such {option} and no delivery for it "
                f"{_names_hint(config, file, names)}"
            )


def _names_hint(config: Config, file: str, names: list[str]) -> str:
    """'(hint: <config>/<file> has: a, b)': where the names a typo missed are written."""
    return f"(hint: {config.directory / file} has: {', '.join(names) or 'none yet'})"


@alerts.command(name="test")
@click.argument("watcher_name", metavar="WATCHER")
@click.pass_context
def alerts_test(ctx: click.Context, watcher_name: str) -> None:
    """Send a sample alert through each of a watcher's channels and report each outcome.

    Example: veille alerts test cellule-ia
    """
    from alerts.dispatch import policy_from, sample_alert, send
    from alerts.outbox import channels_of

    config = load(ctx)
    watcher = next((w for w in config.watchers if w.name == watcher_name), None)
    if watcher is None:
        raise CommandError(
            f"unknown watcher {watcher_name!r} "
            f"{_names_hint(config, 'watchers.yaml', [w.name for w in config.watchers])}"
        )
    policy = policy_from(config.settings, dict(os.environ))
    failed = False
    for channel in channels_of(watcher):
        outcome = send(watcher, channel, sample_alert(watcher), policy)
        failed |= not outcome.ok
        click.echo(f"{channel}: {'sent' if outcome.ok else 'FAILED: ' + not_retried(outcome.error or '')}")
    sys.exit(1 if failed else 0)


@alerts.command(name="retry")
@click.argument("delivery_id", required=False)
@click.option("--dead", is_flag=True, help="Retry every dead delivery.")
@click.pass_context
def alerts_retry(ctx: click.Context, delivery_id: str | None, dead: bool) -> None:
    """Make a failed or dead delivery (or all dead ones) due again now.

    A pending delivery is not touched: it waits for its digest or the end of quiet hours.

    Example: veille alerts retry --dead
    """
    if not (delivery_id or dead):
        raise CommandError("give a delivery id (or its first characters) or --dead")
    config = load(ctx, sends=False)  # retry sends nothing itself
    archive = open_archive(config, existing=True)
    now = format_utc(utc_now())
    try:
        if dead:
            cursor = archive.db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ? WHERE status = 'dead'",
                [now],
            )
        else:
            cursor = archive.db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, due_at = ? "
                "WHERE substr(id, 1, ?) = ? AND status IN ('failed', 'dead')",
                [now, len(delivery_id), delivery_id],
            )
            if not cursor.rowcount:
                raise CommandError(_not_retried(archive, delivery_id))
        archive.db.conn.commit()
    finally:
        archive.close()
    click.echo(f"{cursor.rowcount} {'delivery' if cursor.rowcount == 1 else 'deliveries'} due again")


def _not_retried(archive: Archive, delivery_id: str) -> str:
    """Why no delivery was made due again: no such id, or the status of those it names."""
    found = [
        r[0]
        for r in archive.db.execute(
            "SELECT DISTINCT status FROM deliveries WHERE substr(id, 1, ?) = ?",
            [len(delivery_id), delivery_id],
        )
    ]
    if not found:
        return (
            f"no delivery id starts with {delivery_id!r} "
            "(hint: `veille alerts --state failed` lists the ones to retry)"
        )
    return (
        f"delivery {delivery_id!r} is {', '.join(sorted(found))}, not failed or dead (hint: a pending "
        "one waits for its digest or the end of quiet hours; a suppressed one has no watcher any more)"
    )


@alerts.command(name="send")
@click.pass_context
def alerts_send(ctx: click.Context) -> None:
    """Send the alerts that are due now (what `veille crawl` does after a cycle).

    Example: veille alerts send
    """
    from crawler.cli import dispatch_now

    click.echo(dispatch_now(load(ctx)))
