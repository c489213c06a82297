"""`veille try` and `veille backtest`: let an admin test topics before trusting them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from alerts.backtest import archive_articles, render_backtest, run_backtest
from alerts.explain import render_json, render_text
from alerts.matcher import Article, Matcher
from crawler.archive.reports import read_article
from crawler.cli.common import CommandError, load, open_archive, parse_since
from crawler.cli.text import format_table, shorten
from crawler.config import Config
from crawler.config.topics import Topics, lint_topics, load_topics
from crawler.exceptions import ConfigError
from crawler.extract.language import choose_language


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
        found = read_article(archive.db, article_id)
        archive.close()
        if found is None:
            raise CommandError(f"no article {article_id} in the archive (hint: `veille search` shows ids)")
        return Article(
            found.title or "",
            found.summary or "",
            found.body or "",
            lang or found.language,
            source or found.source,
        )
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
