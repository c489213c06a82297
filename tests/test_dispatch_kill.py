"""A dispatcher killed with SIGKILL in the middle of a batch: after a restart nothing is lost, and only
the delivery that was in flight may repeat, with the same delivery id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from crawler.archive.articles import Archive
from crawler.config import load_config
from crawler.items import ArticleItem
from crawler.pipelines import build_record
from tests.servers import WebhookReceiver

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent


def test_sigkill_mid_batch_loses_nothing_and_repeats_only_the_message_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = WebhookReceiver(delay=0)
    try:
        (tmp_path / "sources.yaml").write_text(
            "sources:\n  - name: s\n    languages: [fr]\n    feeds: [https://x.ma/feed]\n"
        )
        (tmp_path / "keywords.yaml").write_text("topics:\n  - name: t\n    any: [Jazari]\n")
        (tmp_path / "watchers.yaml").write_text(
            "watchers:\n  - name: w\n    topics: [t]\n"
            f"    webhook: {{url: '{hook.url}', secret: '${{HOOK_SECRET}}'}}\n"
        )
        env = dict(os.environ, HOOK_SECRET="k", VEILLE_DB=str(tmp_path / "a.db"))
        monkeypatch.setenv("HOOK_SECRET", "k")
        config = load_config(tmp_path)
        archive = Archive.open(tmp_path / "a.db")
        from alerts.matcher import Matcher
        from alerts.outbox import matching

        matcher = Matcher(config.topics.enabled())
        for n in range(5):
            body = f"Article numéro {n} sur l'institut Jazari, sujet {n * 7919} sans rapport avec les autres."
            item = ArticleItem(source="s", url=f"https://x.ma/a-{n}", title=f"Jazari {n}", body=body)
            archive.store_many([build_record(item)], matching(matcher, config.watchers))
        archive.close()
        command = [sys.executable, "-m", "crawler.cli", "--config", str(tmp_path), "alerts", "send"]
        hook.delay = 30  # the receiver hangs on the first request: that one is in flight when killed
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hook.requests, "the dispatcher never sent anything"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        hook.delay = 0
        again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert again.returncode == 0, again.stderr
        ids = Counter(headers["X-Veille-Delivery"] for headers, _ in hook.requests)
        assert len(ids) == 5  # every delivery arrived
        repeated = [i for i, n in ids.items() if n > 1]
        # The one in flight when killed was never recorded, so it is sent again, with the same id.
        assert len(repeated) == 1 and ids[repeated[0]] == 2
        archive = Archive.open(tmp_path / "a.db")
        assert archive.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]
        archive.close()
    finally:
        hook.stop()
