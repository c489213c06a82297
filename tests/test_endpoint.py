"""/healthz and /metrics built from the archive's counts, without a Daemon (crawler/daemon/http.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from crawler.archive.articles import Archive
from crawler.daemon.http import health_report
from crawler.daemon.metrics import Counters, render_metrics


def view(archive: Archive, stopping: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        started_at="2026-01-01T00:00:00Z",
        config_error=None,
        stopping=stopping,
        counters=Counters(),
        archive=archive,
    )


def test_healthz_counts_problem_sources_not_problems(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    archive.db.conn.executemany(
        "INSERT INTO source_problems (source, kind, detail, raised_at) VALUES (?, ?, 'x', '2026-01-01')",
        [("b", "silent"), ("a", "failing"), ("b", "yield")],
    )
    code, body = health_report(view(archive))
    assert code == 200 and body["status"] == "ok"
    assert (body["sources_failing"], body["problem_sources"]) == (2, ["a", "b"])
    assert (body["deliveries_waiting"], body["deliveries_dead"]) == (0, 0)
    assert health_report(view(archive, stopping=True))[0] == 503
    archive.close()
    code, body = health_report(view(archive))
    assert code == 503 and body["status"] == "error"


def test_metrics_have_a_sample_for_every_outbox_status(tmp_path: Path) -> None:
    archive = Archive.open(tmp_path / "a.db")
    archive.db.conn.execute("INSERT INTO sources (name, consecutive_failures) VALUES ('a', 2)")
    text = render_metrics(Counters(), archive.db.conn).decode()
    assert 'veille_source_consecutive_failures{source="a"} 2.0' in text
    assert all(f'veille_outbox{{status="{s}"}} 0.0' in text for s in ("pending", "failed", "dead"))
    assert "veille_archive_articles 0.0" in text
    archive.close()
