"""Scrapy's caching DNS resolver, refusing the addresses the crawler may not fetch.

The check is made on the address the connection will use, after resolution: a name that a feed's
author points at 10.0.0.5 or 169.254.169.254 is refused however it is spelt, and every redirect
hop is resolved here again. Addresses written in the URL itself skip resolution; the
AddressGuardMiddleware checks those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scrapy.crawler import Crawler
from scrapy.resolver import CachingThreadedResolver
from scrapy.settings import BaseSettings
from twisted.internet.defer import Deferred

from crawler.exceptions import BlockedAddressError
from crawler.extract.addresses import AddressPolicy


def address_policy(settings: BaseSettings) -> AddressPolicy:
    """The policy that Scrapy settings carry (set from the config by crawler.runner)."""
    return AddressPolicy(
        settings.getbool("VEILLE_ALLOW_PRIVATE_ADDRESSES"),
        frozenset(h.lower() for h in settings.getlist("VEILLE_PRIVATE_HOSTS")),
    )


class GuardedResolver(CachingThreadedResolver):
    """CachingThreadedResolver whose answers must pass the address policy."""

    policy = AddressPolicy()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = address_policy(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:  # noqa: N802
        return super().getHostByName(name, timeout).addCallback(self._checked, name)

    def _checked(self, address: str, name: str) -> str:
        refusal = self.policy.refusal(name, address)
        if refusal:
            raise BlockedAddressError(refusal)
        return address
