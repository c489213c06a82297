"""Watchers: who receives which topics, how and when (config/watchers.yaml, validated at load).

Secrets are written as ${VARIABLE} and read from the environment; the YAML never holds them, and
every printed form of a watcher masks them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.config.yamlconf import LANGUAGES, KeyPath, Problems, load_named_list

WATCHER_KEYS = (
    "name",
    "title",
    "topics",
    "sources",
    "languages",
    "email",
    "webhook",
    "apprise",
    "mode",
    "quiet_hours",
    "max_per_hour",
    "timezone",
    "admin",
    "enabled",
)
SECRET = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CLOCK = r"([01]\d|2[0-3]):([0-5]\d)"
MODE = re.compile(rf"^(instant|hourly|daily {CLOCK}|weekly (mon|tue|wed|thu|fri|sat|sun) {CLOCK})$")
QUIET = re.compile(rf"^{CLOCK}-{CLOCK}$")


@dataclass(frozen=True)
class Secret:
    """A value read from the environment; printed as its variable's name only."""

    template: str
    value: str = field(repr=False)

    def __str__(self) -> str:
        return SECRET.sub(lambda m: f"${{{m.group(1)}}}=***", self.template)


@dataclass(frozen=True)
class Webhook:
    """A JSON endpoint and the secret its payloads are signed with."""

    url: Secret
    secret: Secret


@dataclass(frozen=True)
class Watcher:
    """A person or system that follows topics through channels."""

    name: str
    title: str
    topics: tuple[str, ...]
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    email: tuple[str, ...] = ()
    webhook: Webhook | None = None
    apprise: tuple[Secret, ...] = ()
    mode: str = "instant"
    quiet_hours: str | None = None
    max_per_hour: int | None = None
    timezone: str = "Africa/Casablanca"
    admin: bool = False
    enabled: bool = True

    def follows(self, topic: str, source: str | None, language: str | None) -> bool:
        """True when a match of `topic` in an article of `source`/`language` is owed to this watcher."""
        return (
            self.enabled
            and topic in self.topics
            and (not self.sources or source in self.sources)
            and (not self.languages or language in self.languages)
        )


def load_watchers(
    path: Path, topics: set[str] | None, sources: set[str] | None, environ: Mapping[str, str]
) -> tuple[Watcher, ...]:
    """Validate watchers.yaml; ConfigError lists every problem (file, line, watcher, key, hint)."""
    return load_named_list(
        path,
        "watchers",
        "watcher",
        "watcher",
        lambda raw, key, problems: _watcher(raw, key, problems, topics, sources, environ),
    )


def _watcher(
    raw: Any,
    key: KeyPath,
    problems: Problems,
    topics: set[str] | None,
    sources: set[str] | None,
    environ: Mapping[str, str],
) -> Watcher | None:
    started = problems.begin_entry(raw, key, "watcher", WATCHER_KEYS, "cellule-ia")
    if started is None:
        return None
    owner, before = started
    name = raw.get("name")
    followed = _names(
        raw.get("topics"),
        topics,
        key + ("topics",),
        problems,
        owner,
        "topic",
        "topic names from keywords.yaml, e.g. [ia, jazari]",
        required=True,
    )
    narrowed = _names(
        raw.get("sources", []),
        sources,
        key + ("sources",),
        problems,
        owner,
        "source",
        "source names from sources.yaml",
    )
    languages = _names(
        raw.get("languages", []),
        set(LANGUAGES),
        key + ("languages",),
        problems,
        owner,
        "language",
        f"among {', '.join(LANGUAGES)}",
    )
    channels = _channels(raw, key, problems, owner, environ)
    _check_schedule(raw, key, problems, owner)
    if len(problems.messages) > before:
        return None
    email, webhook, apprise = channels
    return Watcher(
        name=name,
        title=raw.get("title") or name,
        topics=followed,
        sources=narrowed,
        languages=languages,
        email=email,
        webhook=webhook,
        apprise=apprise,
        mode=raw.get("mode", "instant"),
        quiet_hours=raw.get("quiet_hours"),
        max_per_hour=raw.get("max_per_hour"),
        timezone=raw.get("timezone", "Africa/Casablanca"),
        admin=raw.get("admin", False),
        enabled=raw.get("enabled", True),
    )


def _names(
    raw: Any,
    known: set[str] | None,
    key: KeyPath,
    problems: Problems,
    owner: str,
    kind: str,
    hint: str,
    required: bool = False,
) -> tuple[str, ...]:
    if raw is None or raw == []:
        if required:
            problems.add(key, f"no {kind}", hint, owner)
        return ()
    if not problems.expect(raw, list, key, hint, owner):
        return ()
    for index, value in enumerate(raw):
        if known is not None and value not in known:  # None: that file failed, its errors say why
            problems.add(key + (index,), f"unknown {kind} {value!r}", hint, owner)
    return tuple(raw)


def _channels(
    raw: dict, key: KeyPath, problems: Problems, owner: str, environ: Mapping[str, str]
) -> tuple[tuple[str, ...], Webhook | None, tuple[Secret, ...]]:
    email = raw.get("email", [])
    if isinstance(email, str):
        email = [email]
    if problems.expect(email, list, key + ("email",), "a list of addresses", owner):
        for index, address in enumerate(email):
            if not isinstance(address, str) or not EMAIL.match(address):
                problems.add(
                    key + ("email", index),
                    f"{address!r} is not an email address",
                    "write name@example.ma",
                    owner,
                )
    webhook = _webhook(raw.get("webhook"), key + ("webhook",), problems, owner, environ)
    apprise = tuple(
        _secret(url, key + ("apprise", i), problems, owner, environ, required=False)
        for i, url in enumerate(raw.get("apprise", []) or [])
    )
    if not (email or webhook or apprise) and set(raw) <= set(WATCHER_KEYS):  # not when a key is misspelt
        problems.add(key, "no channel", "give email, webhook or apprise", owner)
    return tuple(email), webhook, apprise


def _webhook(
    raw: Any, key: KeyPath, problems: Problems, owner: str, environ: Mapping[str, str]
) -> Webhook | None:
    if raw is None:
        return None
    hint = "webhook: {url: https://..., secret: '${VEILLE_WEBHOOK_SECRET}'}"
    if not problems.expect(raw, dict, key, hint, owner):
        return None
    problems.check_keys(raw, ("url", "secret"), key, owner)
    url = _secret(raw.get("url"), key + ("url",), problems, owner, environ, required=False)
    if url.value and not url.value.startswith(("http://", "https://")):
        problems.add(key + ("url",), f"{url} is not an http(s) URL", hint, owner)
    secret = _secret(raw.get("secret"), key + ("secret",), problems, owner, environ, required=True)
    return Webhook(url, secret)


def _secret(
    raw: Any, key: KeyPath, problems: Problems, owner: str, environ: Mapping[str, str], required: bool
) -> Secret:
    if not isinstance(raw, str) or not raw:
        problems.add(key, "missing", "write the value, with secrets as ${VARIABLE}", owner)
        return Secret("", "")
    names = SECRET.findall(raw)
    if required and not names:
        problems.add(
            key,
            "a secret must come from the environment, not the YAML",
            "write '${VEILLE_WEBHOOK_SECRET}' and export that variable",
            owner,
        )
        return Secret(raw, "")
    for name in names:
        if name not in environ:
            problems.add(
                key,
                f"environment variable {name} is not set",
                f"export {name}=... before starting veille",
                owner,
            )
    return Secret(raw, SECRET.sub(lambda m: environ.get(m.group(1), ""), raw))


def _check_schedule(raw: dict, key: KeyPath, problems: Problems, owner: str) -> None:
    mode = raw.get("mode", "instant")
    if not isinstance(mode, str) or not MODE.match(mode):
        problems.add(
            key + ("mode",),
            f"unknown mode {mode!r}",
            "instant, hourly, 'daily 08:00' or 'weekly mon 08:00'",
            owner,
        )
    quiet = raw.get("quiet_hours")
    if quiet is not None and (not isinstance(quiet, str) or not QUIET.match(quiet)):
        problems.add(
            key + ("quiet_hours",),
            f"{quiet!r} is not a time range",
            "write '22:00-07:00' (local time)",
            owner,
        )
    cap = raw.get("max_per_hour")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        problems.add(
            key + ("max_per_hour",), f"{cap!r} is not a positive whole number", "e.g. max_per_hour: 20", owner
        )
    try:
        ZoneInfo(str(raw.get("timezone", "Africa/Casablanca")))
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(
            key + ("timezone",),
            f"unknown time zone {raw.get('timezone')!r}",
            "use an IANA name such as Africa/Casablanca",
            owner,
        )
    for flag in ("admin", "enabled"):
        if flag in raw:
            problems.expect(raw[flag], bool, key + (flag,), f"write {flag}: true or {flag}: false", owner)
