"""describe_failure: one readable line, with a hint, for each way a download fails."""

from __future__ import annotations

import pytest
from scrapy.exceptions import CannotResolveHostError, DownloadCancelledError, DownloadTimeoutError
from twisted.internet import error as tx_error

from crawler.failures import describe_failure

ANNOUNCED = (
    "Expected to receive 12582912 bytes which is larger than download max size (10485760) in "
    "request <GET https://www.hespress.com/feed>."
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            CannotResolveHostError("www.hespress.com"),
            "DNS lookup failed (hint: no network on this machine, or the domain is gone)",
        ),
        (
            tx_error.DNSLookupError("le360.com"),
            "DNS lookup failed (hint: no network on this machine, or the domain is gone)",
        ),
        (
            DownloadTimeoutError("took too long"),
            "timed out after 30s (hint: the site is slow or drops us; raise 'timeout' in settings.yaml)",
        ),
        (
            DownloadCancelledError(ANNOUNCED),
            (
                "download cancelled: the body is 12,582,912 bytes, over max_response_bytes (10,485,760) "
                "(hint: raise max_response_bytes if the body is legitimate)"
            ),
        ),
        (
            DownloadCancelledError(),
            (
                "download cancelled: the body grew over max_response_bytes (10,485,760 bytes) "
                "(hint: raise max_response_bytes if the body is legitimate)"
            ),
        ),
    ],
)
def test_each_failure_is_one_line_with_a_hint(exc: BaseException, expected: str) -> None:
    assert describe_failure(exc, timeout=30, max_bytes=10_485_760) == expected


def test_a_missing_article_is_not_blamed_on_sources_yaml() -> None:
    from scrapy.http import Request, Response
    from scrapy.spidermiddlewares.httperror import HttpError

    gone = HttpError(
        Response(
            "https://www.hespress.com/x-1.html",
            status=404,
            request=Request("https://www.hespress.com/x-1.html"),
        ),
        "404",
    )
    assert describe_failure(gone) == (
        "HTTP 404 Not Found (hint: the URL no longer exists; fix it in sources.yaml or add a fallback)"
    )
    assert describe_failure(gone, article=True) == (
        "HTTP 404 Not Found (hint: the article was deleted or "
        "moved; nothing to fix unless most articles fail)"
    )


def test_a_download_cut_while_still_connecting_is_ours_not_the_servers() -> None:
    # a stopping crawl stops the connector before the TCP handshake ends: Twisted says UserError
    assert describe_failure(tx_error.UserError()) == "download cut: the crawl was stopping"
    assert describe_failure(tx_error.TimeoutError()).startswith("timed out")
