"""Shared pieces of the `veille` commands: clean errors, config and archive loading."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import click

from crawler.archive.articles import Archive
from crawler.config import Config, SecretsNotNeeded, load_config
from crawler.config.schedules import parse_duration
from crawler.exceptions import ConfigError, VeilleError
from crawler.extract.dates import format_utc, utc_now


class CommandError(click.ClickException):
    """A domain error shown as plain lines on stderr, without a traceback."""

    def show(self, file: object | None = None) -> None:
        for line in self.message.splitlines():
            click.echo(f"error: {line}", err=True)


def load(ctx: click.Context, sends: bool = True) -> Config:
    """The validated config of the --config directory, or a clean exit listing every problem. A
    command that sends nothing (`sends=False`) does not need the secrets' variables set."""
    try:
        return load_config(ctx.obj["config_dir"], None if sends else SecretsNotNeeded(os.environ))
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc


def open_archive(config: Config, existing: bool = False) -> Archive:
    """The config's archive, or a clean exit saying why it cannot be opened; `existing`: a command
    that only reads it does not create an empty one."""
    path = config.database_path()
    if existing and not path.exists():
        raise CommandError(
            f"{path}: no archive yet (hint: `veille crawl` or `veille run` creates it; "
            "VEILLE_DB or the database setting names another file)"
        )
    try:
        return Archive.for_config(config)
    except VeilleError as exc:
        raise CommandError(str(exc)) from exc


def parse_since(value: str | None) -> str | None:
    """An ISO UTC lower bound from a duration ('7d', '12h') or an ISO 8601 date or time (UTC unless
    it says otherwise); a clean error otherwise. Strict on purpose: a typo read as some other date
    would quietly return the wrong articles."""
    if not value:
        return None
    try:
        return format_utc(utc_now() - timedelta(seconds=parse_duration(value)))
    except ValueError:
        pass
    try:
        found = datetime.fromisoformat(value.strip())
        return format_utc(found if found.tzinfo else found.replace(tzinfo=UTC))
    except (ValueError, OverflowError):  # OverflowError: year 1 with an offset
        raise CommandError(
            f"--since {value!r}: not a date or a duration (hint: 7d, 12h, 2026-11-01 or 2026-11-01T08:00)"
        ) from None


def send_due(config: Config) -> str:
    """Send the alerts that are due now, as `veille crawl` and `veille alerts send` do; one summary."""
    from alerts.dispatch import dispatch_once
    from crawler.cli.text import dispatched_text

    archive = open_archive(config)
    try:
        return dispatched_text(dispatch_once(archive, config, utc_now()))
    finally:
        archive.close()
