"""`veille alerts` and its subcommands: the outbox listed, a test send, retries, a send now."""

from __future__ import annotations

import json
import os
import sys

import click

from alerts.channels import not_retried
from crawler.archive import outbox
from crawler.archive.articles import Archive
from crawler.cli.common import CommandError, load, open_archive, send_due
from crawler.cli.text import format_table, shorten
from crawler.config import Config
from crawler.extract.dates import utc_now


@click.group(invoke_without_command=True)
@click.option("--watcher", help="Only this watcher's deliveries.")
@click.option("--topic", help="Only deliveries for this topic.")
@click.option(
    "--state",
    type=click.Choice(["pending", "sending", "failed", "sent", "dead", "suppressed"]),
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
    rows = outbox.recent_deliveries(archive.db.conn, watcher, topic, state, limit)
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
    from alerts.dispatch import sample_alert, send
    from alerts.outbox import channels_of, policy_from

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
    try:
        count = outbox.retry_deliveries(archive.db.conn, None if dead else delivery_id, utc_now())
        if not count and not dead:
            raise CommandError(_not_retried(archive, delivery_id or ""))
    finally:
        archive.close()
    click.echo(f"{count} {'delivery' if count == 1 else 'deliveries'} due again")


def _not_retried(archive: Archive, delivery_id: str) -> str:
    """Why no delivery was made due again: no such id, or the status of those it names."""
    found = outbox.statuses_of(archive.db.conn, delivery_id)
    if not found:
        return (
            f"no delivery id starts with {delivery_id!r} "
            "(hint: `veille alerts --state failed` lists the ones to retry)"
        )
    return (
        f"delivery {delivery_id!r} is {', '.join(found)}, not failed or dead (hint: a pending "
        "one waits for its digest or the end of quiet hours; a suppressed one has no watcher any more)"
    )


@alerts.command(name="send")
@click.pass_context
def alerts_send(ctx: click.Context) -> None:
    """Send the alerts that are due now (what `veille crawl` does after a cycle).

    Example: veille alerts send
    """
    click.echo(send_due(load(ctx)))
