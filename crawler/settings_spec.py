"""The settings of config/settings.yaml, declared as data: name, type, default, help."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.yamlconf import Problems


@dataclass(frozen=True)
class Setting:
    """One key of settings.yaml."""

    name: str
    kind: type | tuple[type, ...]
    default: Any
    help: str
    minimum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("database", str, "veille.db",
            "SQLite file, relative to the working directory; the VEILLE_DB variable wins"),
    Setting("contact_url", str, "https://github.com/veille-maroc/veille",
            "URL put in the User-Agent so site owners can reach the operator"),
    Setting("user_agent", str, "",
            "full User-Agent; empty means 'Veille/<version> (+<contact_url>)'"),
    Setting("download_delay", (int, float), 1.5, "seconds between two requests to one domain", 0),
    Setting("concurrent_per_domain", int, 1, "parallel requests per domain (1 or 2 is polite)", 1),
    Setting("concurrent_requests", int, 16, "parallel requests in all", 1),
    Setting("timeout", (int, float), 30, "seconds before a request is abandoned", 1),
    Setting("retries", int, 2, "extra attempts after a timeout, a refused connection or a 5xx", 0),
    Setting("retry_after_max", int, 120,
            "longest Retry-After (s) honoured within one crawl; longer waits end the route", 0),
    Setting("max_response_bytes", int, 10_000_000, "larger bodies are refused", 10_000),
    Setting("obey_robots_txt", bool, True, "honour each site's robots.txt"),
    Setting("max_articles_per_route", int, 200,
            "article pages fetched per route and cycle at most (newest first)", 1),
    Setting("extract_workers", int, 1,
            "processes that extract articles beside the crawler (0: extract in the crawler itself)", 0),
    Setting("story_similarity", (int, float), 0.6,
            "share of word 3-shingles (MinHash estimate) two bodies need to be one story", 0.1),
    Setting("story_window_days", int, 7, "how far back a reprint is linked to its story", 1),
    Setting("default_schedule", str, "15m", "crawl interval of sources without their own schedule"),
    Setting("smtp_host", str, "", "SMTP server for email alerts; empty: email alerts wait, failing"),
    Setting("smtp_port", int, 587, "SMTP port (587 STARTTLS, 465 implicit TLS, 25 plain)", 1),
    Setting("smtp_tls", str, "starttls", "starttls, ssl (implicit TLS) or none"),
    Setting("smtp_user", str, "", "SMTP login; empty: no authentication"),
    Setting("smtp_password", str, "", "SMTP password, written as ${VARIABLE} (read from the environment)"),
    Setting("smtp_from", str, "veille@localhost", "sender address of alert emails"),
    Setting("smtp_ca_file", str, "",
            "CA bundle that signed the SMTP server's certificate; empty: the system's"),
    Setting("delivery_timeout", (int, float), 15, "seconds before an SMTP or webhook send is abandoned", 1),
    Setting("delivery_max_attempts", int, 8, "attempts before a delivery is marked dead", 1),
    Setting("delivery_retry_seconds", int, 60, "first retry delay; doubled at each attempt, with jitter", 1),
)
CHOICES = {"smtp_tls": ("starttls", "ssl", "none")}


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


def validate_settings(raw: Any, problems: Problems) -> Settings:
    """Check raw settings.yaml data against SETTINGS; problems are recorded, defaults fill gaps."""
    values = {s.name: s.default for s in SETTINGS}
    if raw is None:
        return Settings(values)
    if not isinstance(raw, dict):
        problems.add((), f"expected a mapping of settings, got {type(raw).__name__}",
                     "write one 'name: value' per line")
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
        if spec.name == "smtp_password" and value and not re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", value):
            problems.add((spec.name,), "a password must come from the environment, not the file",
                         "write smtp_password: ${SMTP_PASSWORD} and export SMTP_PASSWORD")
            continue
        if spec.name in CHOICES and value not in CHOICES[spec.name]:
            problems.add((spec.name,), f"unknown value {value!r}", f"one of {', '.join(CHOICES[spec.name])}")
            continue
        values[spec.name] = value
    return Settings(values)
