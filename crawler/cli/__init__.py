"""The `veille` command: a click group over one module per family of commands, each command a few
lines over one library call; domain errors become one-line messages (CommandError)."""

from __future__ import annotations

import click

from crawler import __version__
from crawler.cli import alerts, crawl, serve, topics
from crawler.config import config_dir


@click.group()
@click.version_option(__version__, prog_name="veille")
@click.option(
    "--config",
    "config_option",
    metavar="DIR",
    envvar="VEILLE_CONFIG",
    help="Config directory (default ./config, or $VEILLE_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, config_option: str | None) -> None:
    """Veille: monitor Moroccan news for the topics that matter to you.

    \b
    Example:
      veille check
      veille crawl hespress-ar le360-fr
      veille search "الذكاء الاصطناعي" --since 7d
    """
    ctx.obj = {"config_dir": config_dir(config_option)}


for command in (
    crawl.check,
    crawl.crawl,
    crawl.run,
    crawl.status,
    crawl.sources,
    crawl.search_command,
    topics.try_command,
    topics.backtest,
    alerts.alerts,
    serve.serve,
):
    main.add_command(command)
