"""The settings of config/settings.yaml, declared as data: name, type, default, help."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from crawler.config.schedules import parse_duration
from crawler.config.yamlconf import Problems


@dataclass(frozen=True)
class Setting:
    """One key of settings.yaml."""

    name: str
    kind: type | tuple[type, ...]
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


MIN_BODY_DAYS = 31  # source health compares a month of bodies; pruning never reaches into it
SECRET_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database",
        str,
        "veille.db",
        "SQLite file, relative to the working directory; the VEILLE_DB variable wins",
    ),
    Setting(
        "contact_url",
        str,
        "https://github.com/veille-maroc/veille",
        "URL put in the User-Agent so site owners can reach the operator",
    ),
    Setting("user_agent", str, "", "full User-Agent; empty means 'Veille/<version> (+<contact_url>)'"),
    Setting("download_delay", (int, float), 1.5, "seconds between two requests to one domain", 0),
    Setting("concurrent_per_domain", int, 1, "parallel requests per domain (1 or 2 is polite)", 1),
    Setting("concurrent_requests", int, 16, "parallel requests in all", 1),
    Setting("timeout", (int, float), 30, "seconds before a request is abandoned", 1),
    Setting("retries", int, 2, "extra attempts after a timeout, a refused connection or a 5xx", 0),
    Setting(
        "retry_after_max",
        int,
        120,
        "longest Retry-After (s) honoured within one crawl; longer waits end the route",
        0,
    ),
    Setting("max_response_bytes", int, 10_000_000, "larger bodies are refused", 10_000),
    Setting("obey_robots_txt", bool, True, "honour each site's robots.txt"),
    Setting(
        "allow_private_addresses",
        bool,
        False,
        "fetch loopback, private and link-local addresses too (every site is then trusted; "
        "for one intranet site, set it on that source instead)",
    ),
    Setting(
        "max_articles_per_route",
        int,
        200,
        "article pages fetched per route and cycle at most (newest first)",
        1,
    ),
    Setting(
        "extract_workers",
        int,
        1,
        "processes that extract articles beside the crawler (0: extract in the crawler itself)",
        0,
    ),
    Setting(
        "story_similarity",
        (int, float),
        0.6,
        "share of word 3-shingles (MinHash estimate) two bodies need to be one story",
        0.1,
        1,
    ),
    Setting("story_window_days", int, 7, "how far back a reprint is linked to its story", 1),
    Setting("default_schedule", str, "15m", "crawl interval of sources without their own schedule"),
    Setting(
        "min_interval",
        str,
        "30s",
        "shortest crawl interval a schedule may ask for (keep 30s or more against real sites)",
    ),
    Setting(
        "adaptive_polling",
        bool,
        True,
        "poll a quiet source less often, down to 4 times its interval (or its own `slowest`)",
    ),
    Setting("max_concurrent_crawls", int, 4, "sources the daemon crawls at the same time at most", 1),
    Setting(
        "startup_spread",
        str,
        "2m",
        "the daemon's first crawls are spread over this long, so they do not all start at once",
    ),
    Setting("dispatch_interval", str, "30s", "how often the daemon sends the alerts that are due"),
    Setting(
        "health_failures", int, 3, "consecutive failed crawls before the admin is told a source is down", 1
    ),
    Setting(
        "health_silence_min",
        str,
        "12h",
        "a source is called silent only after this long without a new article, whatever its rhythm",
    ),
    Setting(
        "health_yield_drop",
        (int, float),
        0.5,
        "alert when the share of complete articles (body and date) falls by this much",
        0.05,
        1,
    ),
    Setting(
        "prune_bodies_after_days",
        int,
        0,
        f"drop article bodies (and old versions) after this many days, {MIN_BODY_DAYS} or more; "
        "0 keeps them forever",
        0,
    ),
    Setting(
        "keep_runs_days", int, 90, "crawl runs and delivery attempts are deleted after this many days", 1
    ),
    Setting("retention_cron", str, "30 3 * * *", "when the retention job runs (cron, UTC)"),
    Setting(
        "http_listen",
        str,
        "",
        "host:port of the /healthz and /metrics endpoint, e.g. 127.0.0.1:9464; empty: off",
    ),
    Setting("log_format", str, "text", "daemon log lines: text or json"),
    Setting("smtp_host", str, "", "SMTP server for email alerts; empty: email alerts wait, failing"),
    Setting("smtp_port", int, 587, "SMTP port (587 STARTTLS, 465 implicit TLS, 25 plain)", 1, 65535),
    Setting("smtp_tls", str, "starttls", "starttls, ssl (implicit TLS) or none"),
    Setting("smtp_user", str, "", "SMTP login; empty: no authentication"),
    Setting("smtp_password", str, "", "SMTP password, written as ${VARIABLE} (read from the environment)"),
    Setting("smtp_from", str, "veille@localhost", "sender address of alert emails"),
    Setting(
        "smtp_ca_file", str, "", "CA bundle that signed the SMTP server's certificate; empty: the system's"
    ),
    Setting("delivery_timeout", (int, float), 15, "seconds before an SMTP or webhook send is abandoned", 1),
    Setting("delivery_max_attempts", int, 8, "attempts before a delivery is marked dead", 1),
    Setting("delivery_retry_seconds", int, 60, "first retry delay; doubled at each attempt, with jitter", 1),
    Setting(
        "lease_seconds", int, 300, "how long a sender owns a delivery it claimed; due again after it", 30
    ),
)
CHOICES = {"smtp_tls": ("starttls", "ssl", "none"), "log_format": ("text", "json")}
DURATIONS = ("default_schedule", "min_interval", "startup_spread", "dispatch_interval", "health_silence_min")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Settings:
    """Validated settings.yaml."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def database_path(self, environ: dict[str, str]) -> Path:
        """The SQLite path: VEILLE_DB wins over the `database` setting."""
        return Path(environ.get("VEILLE_DB") or self.values["database"]).expanduser()

    def user_agent_string(self, version: str) -> str:
        """The User-Agent sent to every site."""
        return self.values["user_agent"] or f"Veille/{version} (+{self.values['contact_url']})"

    def warnings(self, path: Path) -> list[str]:
        """Warnings for settings that are allowed but probably not meant: impolite ones (a benchmark or a
        local test needs them), and values Veille raises to a floor (refusing them would stop a
        daemon that ran with them before)."""
        out = self._politeness_warnings(path)
        body_days = self.values["prune_bodies_after_days"]
        if 0 < body_days < MIN_BODY_DAYS:
            out.append(
                f"{path}: prune_bodies_after_days is {body_days}: bodies are kept at least "
                f"{MIN_BODY_DAYS} days, which source health compares, so {MIN_BODY_DAYS} is used "
                f"(hint: 0 keeps them forever; otherwise {MIN_BODY_DAYS} or more)"
            )
        every, floor = self.values["default_schedule"], self.values["min_interval"]
        if parse_duration(every) < parse_duration(floor):
            out.append(
                f"{path}: default_schedule {every} is shorter than min_interval {floor}: sources "
                f"without a schedule are crawled every {floor} (hint: raise default_schedule or "
                "lower min_interval)"
            )
        return out

    def _politeness_warnings(self, path: Path) -> list[str]:
        out = []
        if self.values["concurrent_per_domain"] > 2:
            out.append(
                f"{path}: concurrent_per_domain is {self.values['concurrent_per_domain']}: more "
                "than 2 requests at once to one site is impolite and gets crawlers blocked "
                "(hint: use 1 or 2)"
            )
        if self.values["download_delay"] < 1:
            out.append(
                f"{path}: download_delay is {self.values['download_delay']}s: less than a second "
                "between two requests to one site is impolite (hint: the default is 1.5)"
            )
        return out


def validate_settings(raw: Any, problems: Problems, environ: Mapping[str, str] | None = None) -> Settings:
    """Check raw settings.yaml data against SETTINGS; problems are recorded, defaults fill gaps.
    With `environ`, a ${VARIABLE} it does not set is a problem too."""
    values = {s.name: s.default for s in SETTINGS}
    if raw is None:
        return Settings(values)
    if not isinstance(raw, dict):
        problems.add(
            (),
            f"expected a mapping of settings, got {type(raw).__name__}",
            "write one 'name: value' per line",
        )
        return Settings(values)
    problems.check_keys(raw, [s.name for s in SETTINGS], ())
    for spec in SETTINGS:
        if spec.name not in raw:
            continue
        value = raw[spec.name]
        if not problems.expect(value, spec.kind, (spec.name,), spec.help):
            continue
        if spec.minimum is not None and value < spec.minimum:
            problems.add((spec.name,), f"{value!r} is below the minimum {spec.minimum:g}", spec.help)
            continue
        if spec.maximum is not None and value > spec.maximum:
            problems.add((spec.name,), f"{value!r} is above the maximum {spec.maximum:g}", spec.help)
            continue
        if spec.name == "smtp_password" and value and not SECRET_REF.fullmatch(value):
            problems.add(
                (spec.name,),
                "a password must come from the environment, not the file",
                "write smtp_password: ${SMTP_PASSWORD} and export SMTP_PASSWORD",
            )
            continue
        variable = SECRET_REF.fullmatch(value)[1] if spec.name == "smtp_password" and value else None
        if variable and environ is not None and variable not in environ:
            problems.add(
                (spec.name,),
                f"environment variable {variable} is not set",
                f"export {variable} before starting veille (systemd: EnvironmentFile=)",
            )
            continue
        reason = _check_value(spec.name, value)
        if reason:
            problems.add((spec.name,), reason[0], reason[1])
            continue
        if spec.name in CHOICES and value not in CHOICES[spec.name]:
            problems.add((spec.name,), f"unknown value {value!r}", f"one of {', '.join(CHOICES[spec.name])}")
            continue
        values[spec.name] = value
    return Settings(values)


def _check_value(name: str, value: Any) -> tuple[str, str] | None:
    """The problem and hint of a duration, cron or listen address setting, or None."""
    if name in DURATIONS:
        try:
            parse_duration(value)
        except ValueError as exc:
            return str(exc), "write a duration such as 30s, 15m, 2h or 1d"
    if name == "retention_cron":
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            return f"invalid cron expression {value!r}: {exc}", "e.g. '30 3 * * *' (03:30 UTC daily)"
    if name == "http_listen" and value:
        host, _, port = value.rpartition(":")
        if host not in LOOPBACK or not port.isdigit() or not 0 < int(port) < 65536:
            return (
                f"{value!r} is not a loopback host:port",
                "e.g. 127.0.0.1:9464; expose it through a reverse proxy, not directly",
            )
    return None
