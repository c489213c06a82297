"""Sending one alert through one channel; every send returns an Outcome instead of raising."""

from __future__ import annotations

import http.client
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from alerts.render import signature


@dataclass(frozen=True)
class Outcome:
    """What a send did: ok, or the one-line reason it failed."""

    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    """Where email alerts go out (settings.yaml, the password read from the environment)."""

    host: str
    port: int = 587
    tls: str = "starttls"
    user: str = ""
    password: str = ""
    sender: str = "veille@localhost"
    timeout: float = 15
    ca_file: str = ""

    def tls_context(self) -> ssl.SSLContext:
        """Certificate checks on: against the system's CAs, or the given bundle (a private CA)."""
        return ssl.create_default_context(cafile=self.ca_file or None)


def send_email(smtp: SmtpSettings, message: EmailMessage) -> Outcome:
    """Send a message by SMTP (STARTTLS, implicit TLS or plain, with login when a user is set)."""
    if not smtp.host:
        return Outcome(False, "no SMTP server (hint: set smtp_host in settings.yaml)")
    where = f"SMTP {smtp.host}:{smtp.port}"
    try:
        if smtp.tls == "ssl":
            client: Any = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=smtp.tls_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=smtp.tls_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        return Outcome(
            False,
            f"{where}: login as {smtp.user} refused: {_line(exc.smtp_error)} "
            "(hint: check smtp_user and the variable smtp_password names; it is retried)",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(
            False,
            f"{where}: {type(exc).__name__}: {_line(exc)} "
            "(hint: check smtp_host, smtp_port and smtp_tls; it is retried)",
        )
    if refused:
        return Outcome(False, f"{where}: refused recipients {', '.join(sorted(refused))}")
    return Outcome(True)


def send_webhook(
    url: str, secret: str, body: bytes, delivery_id: str, timeout: float, shown: str | None = None
) -> Outcome:
    """POST a signed JSON payload; any answer other than 2xx is a failure. Errors name the URL as
    `shown` (its ${VARIABLE}s masked), never with the secrets it may carry."""
    shown = shown or url
    request = urllib.request.Request(  # noqa: S310 (the admin's URL, checked http(s) at load)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Veille alerts",
            "X-Veille-Delivery": delivery_id,
            "X-Veille-Signature": signature(body, secret),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the admin's URL)
            status = response.status
    except urllib.error.HTTPError as exc:
        return Outcome(
            False, f"webhook {shown}: HTTP {exc.code} (hint: the receiver refused it; it is retried)"
        )
    except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:  # HTTPException: a bad answer
        return Outcome(
            False,
            f"webhook {shown}: {_line(getattr(exc, 'reason', exc))} "
            "(hint: the receiver is down or too slow; it is retried)",
        )
    if not 200 <= status < 300:
        return Outcome(False, f"webhook {shown}: HTTP {status}")
    return Outcome(True)


def send_apprise(url: str, title: str, body: str, shown: str) -> Outcome:
    """Notify through any service Apprise knows (Telegram, Slack, Teams, WhatsApp...)."""
    import apprise  # imported here: it loads ~100 service plugins

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return Outcome(False, f"apprise {shown}: not a URL Apprise understands (hint: see its wiki)")
    result = notifier.notify(title=title, body=body)
    if not result:
        return Outcome(
            False,
            f"apprise {shown}: the service refused the message or did not answer "
            "(hint: run `veille alerts test` to see it again; it is retried)",
        )
    return Outcome(True)


def guarded(where: str, send: Callable[..., Outcome], *args: Any) -> Outcome:
    """Run one send; an exception nobody expected becomes a failed, retried Outcome, so it can never
    stop the pass and hold up every delivery behind it. Only its type is shown: its text may carry a URL."""
    try:
        return send(*args)
    except Exception as exc:
        return Outcome(
            False,
            f"{where}: unexpected {type(exc).__name__} (hint: it is retried; "
            "`veille alerts test WATCHER` shows it again)",
        )


def not_retried(error: str) -> str:
    """A send's error without its "it is retried" note, for a send that will not be (a test send,
    a delivery given up)."""
    return RETRIED.sub("", error).replace(" (hint: )", "")


RETRIED = re.compile(r"(; )?it is retried(; )?")


def _line(exc: object) -> str:
    if isinstance(exc, bytes):  # an SMTP server's reply
        exc = exc.decode("utf-8", "replace")
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
