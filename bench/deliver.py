"""Delivery benchmark: the dispatcher (ledger, rendering, retries) against raw sends, same servers.

An archive with --alerts/2 matched articles owes one watcher --alerts deliveries (email and webhook).
A real aiosmtpd server and a real HTTP receiver run on 127.0.0.1 in this process. The dispatcher
sends them all; in the same run, the baseline sends as many raw messages without any ledger: one
smtplib connection per email and one urllib POST per webhook, as the dispatcher does.

Usage: python bench/deliver.py [--alerts 10000]
"""

from __future__ import annotations

import argparse
import resource
import smtplib
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.channels import SmtpSettings  # noqa: E402
from alerts.dispatch import dispatch_due  # noqa: E402
from alerts.matcher import Matcher  # noqa: E402
from alerts.outbox import Policy, matching  # noqa: E402
from crawler.archive.articles import Archive  # noqa: E402
from crawler.config.topics import Topic, make_term  # noqa: E402
from crawler.config.watchers import Secret, Watcher, Webhook  # noqa: E402
from crawler.items import ArticleItem  # noqa: E402
from crawler.pipelines import build_record  # noqa: E402
from tests.servers import SmtpServer, WebhookReceiver  # noqa: E402


def owed_archive(path: Path, articles: int, watcher: Watcher) -> Archive:
    """An archive whose articles each owe the watcher an email and a webhook delivery."""
    archive = Archive.open(path)
    matcher = Matcher([Topic(name="jazari", title="Jazari", any=(make_term("Jazari", frozenset()),))])
    records = [
        build_record(
            ArticleItem(
                source="s",
                url=f"https://x.ma/a-{n}",
                title=f"L'institut Jazari, dépêche {n}",
                language="fr",
                body=f"Dépêche {n}: l'institut Jazari annonce un programme {n * 7919} à Rabat.",
            )
        )
        for n in range(articles)
    ]
    for start in range(0, len(records), 500):
        archive.store_many(records[start : start + 500], matching(matcher, (watcher,)))
    return archive


def raw_sends(smtp_port: int, url: str, count: int) -> float:
    """Seconds to send `count` messages without a ledger: half by SMTP, half by HTTP POST."""
    body = b'{"schema": "veille.alert/1", "delivery_id": "x", "article": {"title": "Jazari"}}'
    started = time.perf_counter()
    for n in range(count // 2):
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = f"Jazari {n}", "v@x.ma", "a@x.ma"
        message.set_content("L'institut Jazari annonce un programme.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.send_message(message)
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    args = parser.parse_args()
    smtp, hook = SmtpServer().start(), WebhookReceiver()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            watcher = Watcher(
                name="w",
                title="w",
                topics=("jazari",),
                email=("a@x.ma",),
                webhook=Webhook(Secret(hook.url, hook.url), Secret("${S}", "secret")),
            )
            archive = owed_archive(Path(tmp) / "a.db", args.alerts // 2, watcher)
            policy = Policy(SmtpSettings("127.0.0.1", smtp.port, tls="none"), timeout=10)
            started = time.perf_counter()
            done = dispatch_due(
                archive.db.conn, {"w": watcher}, policy, datetime.now(UTC) + timedelta(minutes=1)
            )
            ledger = time.perf_counter() - started
            archive.close()
        raw = raw_sends(smtp.port, hook.url, args.alerts)
    finally:
        smtp.stop()
        hook.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"dispatcher: {done.sent} alerts in {ledger:.2f} s = {done.sent / ledger:.0f} alerts/s "
        f"({done.failed} failed)"
    )
    print(f"raw sends:  {args.alerts} messages in {raw:.2f} s = {args.alerts / raw:.0f} alerts/s")
    print(
        f"ratio: {(done.sent / ledger) / (args.alerts / raw):.0%} (target: 50% or more); "
        f"peak RSS {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
