"""Where the crawler may go: http and https only, public addresses only unless allowed (pure).

A feed is written by someone else. Without these rules one `<link>` could make Veille read a local
file (`file://`), or fetch and archive what an internal service or the cloud's metadata endpoint
(169.254.169.254) answers, and show it to every watcher.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
HINT = (
    "hint: Veille fetches public addresses only; for an intranet site set "
    "allow_private_addresses: true on its source in sources.yaml"
)


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts may resolve to addresses that are not public: every host, or the named ones (the
    hosts of the sources that allow it)."""

    allow_all: bool = False
    private_hosts: frozenset[str] = frozenset()

    def refusal(self, host: str, address: str) -> str | None:
        """Why `host`, resolved to `address`, may not be fetched; None when it may."""
        kind = address_kind(address)
        if kind is None or self.allow_all or host.lower().strip("[]") in self.private_hosts:
            return None
        what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
        if host.strip("[]") == address.strip("[]"):
            return f"refused: {host} is {what} ({HINT})"
        return f"refused: {host} resolves to {address}, {what} ({HINT})"


def address_kind(address: str) -> str | None:
    """'loopback', 'private', 'link-local'... for an address that is not public; None for a
    public one (or for text that is no address)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return kind
    return None if ip.is_global else "non-public"


def is_ip_literal(host: str) -> bool:
    """True for '10.0.0.1' or '[::1]', False for a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def scheme_refusal(url: str) -> str | None:
    """Why a URL's scheme may not be fetched (file:, ftp:, data:...); None for http and https."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in SCHEMES:
        return None
    return (
        f"refused: {scheme or 'no'} scheme, only http and https URLs are fetched (hint: the feed or "
        "page links to something that is not a web page; nothing to fix unless all its links do)"
    )


def hosts_of(urls: Iterable[str | None]) -> frozenset[str]:
    """The host names of some URLs, lower-cased, without port or brackets."""
    return frozenset(host for url in urls if url and (host := urlsplit(url).hostname))
