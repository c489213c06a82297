"""The daemon's optional HTTP endpoint on localhost: /healthz (JSON) and /metrics (Prometheus)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from twisted.web.resource import Resource
from twisted.web.server import Request

from crawler import __version__
from crawler.archive.articles import Archive
from crawler.archive.state import read_health_counts
from crawler.daemon.metrics import Counters, render_metrics
from crawler.extract.dates import format_utc, utc_now


class DaemonView(Protocol):
    """What the endpoint reads of the running daemon (scheduler.Daemon has it; a test needs no Daemon)."""

    started_at: str
    config_error: str | None
    stopping: bool
    counters: Counters
    archive: Archive


def health_report(daemon: DaemonView) -> tuple[int, dict]:
    """The /healthz status code and body: 200 while the daemon runs and its archive answers."""
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "started_at": daemon.started_at,
        "now": format_utc(utc_now()),
        "config_error": daemon.config_error,
    }
    try:
        counts = read_health_counts(daemon.archive.db.conn)
        names = counts.problem_sources
        body["sources_failing"], body["problem_sources"] = len(names), names  # sources, not problems
        body["deliveries_waiting"] = counts.deliveries_waiting
        body["deliveries_dead"] = counts.deliveries_dead
    except Exception as exc:  # the archive is unreadable: the daemon is not healthy
        body.update(status="error", error=str(exc))
        return 503, body
    if daemon.stopping:
        body["status"] = "stopping"
        return 503, body
    return 200, body


class Endpoint(Resource):
    """GET /healthz and /metrics; everything else is 404."""

    isLeaf = True  # noqa: N815 (Twisted's name)

    def __init__(self, daemon: DaemonView) -> None:
        super().__init__()
        self.daemon = daemon

    def render_GET(self, request: Request) -> bytes:  # noqa: N802 (Twisted's name)
        path = request.path.decode("latin-1").rstrip("/")
        if path == "/healthz":
            code, body = health_report(self.daemon)
            request.setResponseCode(code)
            request.setHeader(b"Content-Type", b"application/json")
            return json.dumps(body).encode()
        if path == "/metrics":
            request.setHeader(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")
            return render_metrics(self.daemon.counters, self.daemon.archive.db.conn)
        request.setResponseCode(404)
        return b"not found: try /healthz or /metrics\n"
