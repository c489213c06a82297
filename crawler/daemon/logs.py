"""The daemon's log: text or JSON lines on stderr, Scrapy's chatter kept at warnings unless asked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("py.warnings", "apscheduler", "trafilatura", "htmldate", "charset_normalizer", "scrapy", "twisted")
# The spider's logger (named after the spider; the project's own are "veille.<module>"): its line per
# failed route or fallback is detail the daemon's one line per crawl already reports, and the
# crawl_runs row keeps every message. --verbose shows them.
SPIDER = "veille"
# Scrapy logs each failed download with a traceback; the spider already reports it in one line.
REPORTED = ("Error downloading", "Gave up retrying")


class ReportedElsewhere(logging.Filter):
    """Drops Scrapy's download errors and the spider's INFO lines about routes (each crawl's outcome
    is logged in one line); keeps their other warnings and errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == SPIDER and record.levelno < logging.WARNING:
            return False
        return not (record.name.startswith("scrapy.") and str(record.msg).startswith(REPORTED))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and exception text if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("source", "job"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logs(log_format: str, verbose: bool = False) -> None:
    """Send every log record to stderr as text or JSON lines; libraries' INFO only when verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    if not verbose:
        handler.addFilter(ReportedElsewhere())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
