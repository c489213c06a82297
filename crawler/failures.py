"""One readable line for each way a download can fail (pure mapping of exceptions)."""

from __future__ import annotations

import re
from http import HTTPStatus

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as tx_error

from crawler.exceptions import VeilleError

MAXSIZE_RE = re.compile(r"receive (\d+) bytes which is larger than download max size \((\d+)\)")


def http_status_text(status: int) -> str:
    """'404 Not Found' for 404."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def describe_failure(
    exc: BaseException, timeout: float | None = None, max_bytes: int | None = None, article: bool = False
) -> str:
    """A one-line reason, with a hint, for a failed request (`timeout` and `max_bytes`: the limits in
    force, named in the reason; `article`: an article page, not a route of sources.yaml)."""
    if isinstance(exc, HttpError):
        response = exc.response
        retry = response.headers.get(b"Retry-After")
        extra = f", Retry-After {retry.decode(errors='replace')}" if retry else ""
        hint = _status_hint(response.status, article)
        return f"HTTP {http_status_text(response.status)}{extra} (hint: {hint})"
    if isinstance(exc, DownloadTimeoutError | tx_error.TimeoutError):
        after = f" after {timeout:g}s" if timeout else ""
        return f"timed out{after} (hint: the site is slow or drops us; raise 'timeout' in settings.yaml)"
    if isinstance(exc, DownloadConnectionRefusedError | tx_error.ConnectionRefusedError):
        return "connection refused (hint: the site is down or the port is wrong)"
    if isinstance(exc, CannotResolveHostError | tx_error.DNSLookupError):
        return "DNS lookup failed (hint: no network on this machine, or the domain is gone)"
    if isinstance(exc, DownloadCancelledError):
        return _cancelled(str(exc), max_bytes)
    if isinstance(exc, VeilleError):
        return str(exc)
    if isinstance(exc, IgnoreRequest):
        return _ignored(str(exc))
    if _aborted_by_us(exc):
        return "download cut: the crawl was stopping"
    if isinstance(exc, ResponseDataLossError | DownloadFailedError | tx_error.ConnectError):
        return f"connection failed: {_first_line(exc)} (hint: the server closed the connection)"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _aborted_by_us(exc: BaseException | None) -> bool:
    """True when the connection was aborted on our side (a stopping daemon cuts its downloads);
    Twisted reports it inside the wrapped exception's list of reasons."""
    # A cut while still connecting is Twisted's UserError ("User aborted connection"): the connector
    # was stopped by us, no server was involved. Its subclass TimeoutError is handled before.
    while exc is not None:
        if isinstance(exc, tx_error.ConnectionAborted | tx_error.UserError):
            return True
        reasons = getattr(exc, "reasons", None) or []
        if any(isinstance(getattr(r, "value", None), tx_error.ConnectionAborted) for r in reasons):
            return True
        exc = exc.__cause__
    return False


def _cancelled(message: str, max_bytes: int | None) -> str:
    # Scrapy says "Expected to receive N bytes which is larger than download max size (M) in request
    # <GET url>." when Content-Length announces too much, and nothing when a streamed body grows too big.
    found = MAXSIZE_RE.search(message)
    if found:
        reason = f"the body is {int(found[1]):,} bytes, over max_response_bytes ({int(found[2]):,})"
    elif max_bytes:
        reason = f"the body grew over max_response_bytes ({max_bytes:,} bytes)"
    else:
        reason = message or "the body was too large or the download was stopped"
    return f"download cancelled: {reason} (hint: raise max_response_bytes if the body is legitimate)"


def _ignored(message: str) -> str:
    # DeadHostMiddleware and AddressGuardMiddleware: already explained.
    if message.startswith(("skipped, its host failed earlier", "refused: ")):
        return message
    if "robots.txt" in message:
        return "forbidden by robots.txt (hint: the site does not allow crawling this URL)"
    if "redirect" in message:
        return "too many redirects, probably a redirect loop (hint: open the URL in a browser)"
    return f"request ignored: {message}"


def _status_hint(status: int, article: bool = False) -> str:
    if status in (401, 403):
        return "the site refuses us (WAF or paywall); try a fallback route"
    if status in (404, 410) and article:
        return "the article was deleted or moved; nothing to fix unless most articles fail"
    if status in (404, 410):
        return "the URL no longer exists; fix it in sources.yaml or add a fallback"
    if status == 429:
        return "we are rate-limited; lengthen the schedule or download_delay"
    if status >= 500:
        return "the server is failing; it is retried at the next cycle"
    return "unexpected answer"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
