"""describe_failure: one readable line, with a hint, for each way a download fails."""

from __future__ import annotations

import pytest
from scrapy.exceptions import CannotResolveHostError, DownloadCancelledError, DownloadTimeoutError
from twisted.internet import error as tx_error

from crawler.failures import describe_failure

ANNOUNCED = ("Expected to receive 12582912 bytes which is larger than download max size (10485760) in "
             "request <GET https://www.hespress.com/feed>.")


@pytest.mark.parametrize(("exc", "expected"), [
    (CannotResolveHostError("www.hespress.com"),
     "DNS lookup failed (hint: no network on this machine, or the domain is gone)"),
    (tx_error.DNSLookupError("le360.com"),
     "DNS lookup failed (hint: no network on this machine, or the domain is gone)"),
    (DownloadTimeoutError("took too long"),
     "timed out after 30s (hint: the site is slow or drops us; raise 'timeout' in settings.yaml)"),
    (DownloadCancelledError(ANNOUNCED),
     "download cancelled: the body is 12,582,912 bytes, over max_response_bytes (10,485,760) "
     "(hint: raise max_response_bytes if the body is legitimate)"),
    (DownloadCancelledError(),
     "download cancelled: the body grew over max_response_bytes (10,485,760 bytes) "
     "(hint: raise max_response_bytes if the body is legitimate)"),
])
def test_each_failure_is_one_line_with_a_hint(exc: BaseException, expected: str) -> None:
    assert describe_failure(exc, timeout=30, max_bytes=10_485_760) == expected
