"""Where the crawler may go: the address policy, the guard middleware and the resolver (no network:
every refused address is refused before any connection)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from crawler.config import load_config
from crawler.exceptions import BlockedAddressError
from crawler.extract.addresses import AddressPolicy, address_kind, hosts_of, scheme_refusal
from crawler.middlewares import AddressGuardMiddleware
from crawler.resolver import GuardedResolver

HINT = "(hint: Veille fetches public addresses only; for an intranet site set allow_private_addresses: true"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("[::1]", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("8.8.8.8", None),
        ("196.200.131.1", None),
        ("2001:4860:4860::8888", None),
        ("www.hespress.com", None),
    ],
)
def test_what_is_not_a_public_address(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


def test_the_policy_allows_every_host_or_the_named_ones() -> None:
    assert (
        AddressPolicy().refusal("10.0.0.5", "10.0.0.5")
        == f"refused: 10.0.0.5 is a private address {HINT} on its source in sources.yaml)"
    )
    assert (
        AddressPolicy()
        .refusal("intra.gov.ma", "10.0.0.5")
        .startswith("refused: intra.gov.ma resolves to 10.0.0.5, a private address (hint:")
    )
    assert AddressPolicy().refusal("www.hespress.com", "196.200.131.1") is None
    assert AddressPolicy(allow_all=True).refusal("intra.gov.ma", "10.0.0.5") is None
    named = AddressPolicy(private_hosts=frozenset({"intra.gov.ma", "::1"}))
    assert named.refusal("INTRA.gov.ma", "10.0.0.5") is None and named.refusal("[::1]", "::1") is None
    assert named.refusal("other.gov.ma", "10.0.0.6") is not None


def test_only_http_and_https_are_fetched() -> None:
    assert scheme_refusal("https://a.ma/") is None and scheme_refusal("HTTP://a.ma/") is None
    for url in (
        "file://localhost/etc/passwd",
        "file:///etc/passwd",
        "ftp://a.ma/x",
        "data:text/html,x",
        "s3://b/k",
    ):
        assert scheme_refusal(url).startswith("refused: "), url
    assert hosts_of(["http://[::1]:80/x", "https://A.ma/feed", None]) == {"::1", "a.ma"}


def guard(policy: AddressPolicy, url: str) -> str | None:
    try:
        asyncio.run(AddressGuardMiddleware(policy).process_request(Request(url)))
    except IgnoreRequest as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5:8080/admin",
        "http://[::1]:9200/",
        "http://[::ffff:127.0.0.1]/",
        "http://127.0.0.1:6379/",
        "http://0.0.0.0/",
        "file://localhost/etc/passwd",
    ],
)
def test_the_guard_refuses_private_addresses_and_local_files_before_any_connection(url: str) -> None:
    refusal = guard(AddressPolicy(), url)
    assert refusal is not None and refusal.startswith("refused: "), url


def test_the_guard_lets_allowed_hosts_through() -> None:
    assert guard(AddressPolicy(allow_all=True), "http://10.0.0.5/") is None
    assert guard(AddressPolicy(private_hosts=frozenset({"10.0.0.5"})), "http://10.0.0.5/feed") is None
    assert guard(AddressPolicy(private_hosts=frozenset({"10.0.0.5"})), "http://10.0.0.6/feed") is not None
    assert guard(AddressPolicy(allow_all=True), "file:///etc/passwd") is not None  # never a file


def test_the_resolver_refuses_what_a_name_resolves_to() -> None:
    resolver = GuardedResolver.__new__(GuardedResolver)
    resolver.policy = AddressPolicy(private_hosts=frozenset({"intra.gov.ma"}))
    assert resolver._checked("196.200.131.1", "www.hespress.com") == "196.200.131.1"
    assert resolver._checked("10.0.0.5", "intra.gov.ma") == "10.0.0.5"
    with pytest.raises(
        BlockedAddressError, match=r"refused: evil\.ma resolves to 169\.254\.169\.254, a link-local"
    ):
        resolver._checked("169.254.169.254", "evil.ma")


def test_a_source_allows_its_own_hosts_and_the_key_is_checked(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: intranet\n    languages: [fr]\n    feeds: ['http://intra.gov.ma/feed']\n"
        "    fallbacks:\n      - sitemap: 'http://10.1.1.1:8080/sitemap.xml'\n    allow_private_addresses: true\n"
        "  - name: public\n    languages: [fr]\n    feeds: ['https://www.hespress.com/feed']\n"
    )
    config = load_config(tmp_path)
    assert config.private_hosts() == {"intra.gov.ma", "10.1.1.1"}
    assert not config.settings.allow_private_addresses
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: intranet\n    languages: [fr]\n    feeds: ['http://intra.gov.ma/feed']\n"
        "    allow_private_addresses: 'yes'\n"
    )
    with pytest.raises(Exception, match="allow_private_addresses"):
        load_config(tmp_path)
