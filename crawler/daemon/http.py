"""The daemon's optional HTTP endpoint on localhost: /healthz (JSON) and /metrics (Prometheus)."""

from __future__ import annotations

import json
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from crawler import __version__
from crawler.daemon.metrics import render_metrics
from crawler.extract.dates import format_utc, utc_now


def health_report(daemon: Any) -> tuple[int, dict]:
    """The /healthz status code and body: 200 while the daemon runs and its archive answers."""
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "started_at": daemon.started_at,
        "now": format_utc(utc_now()),
        "config_error": daemon.config_error,
    }
    try:
        conn = daemon.archive.db.conn
        names = [r[0] for r in conn.execute("SELECT DISTINCT source FROM source_problems ORDER BY source")]
        body["sources_failing"], body["problem_sources"] = len(names), names  # sources, not problems
        body["deliveries_waiting"] = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'failed')"
        ).fetchone()[0]
        body["deliveries_dead"] = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'dead'"
        ).fetchone()[0]
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

    def __init__(self, daemon: Any) -> None:
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
