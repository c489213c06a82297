"""URL identity: cleaning, dedupe keys and the site's numeric post id (pure functions)."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "ocid",
        "oc",
        "xtor",
        "cmpid",
        "_ga",
        "_gl",
        "ref_src",
        "amp",
        "outputtype",
        "at_medium",
        "at_campaign",
        "ito",
        "src",
        "share",
        "s_src",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
# Sub-domains that serve the same article as the bare site.
MIRROR_PREFIXES = ("www.", "m.", "mobile.", "amp.")
AMP_SUFFIX = re.compile(r"/amp/?$")  # WordPress AMP: /<slug>/amp/
AMP_PREFIX = re.compile(r"^/amp(?=/.)")  # /amp/<path> (Hespress, Arc sites)

# The post id each site's URLs carry, by site. A pattern applies only to its own hosts: a generic
# "number at the end" rule would merge 2M's /<slug>-20191215/ articles of one day into one.
POST_ID_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "hespress.com": (
        re.compile(r"-(\d{5,})\.html$"),  # AR: /<slug>-1702003.html
        re.compile(r"^/(\d{5,})-[^/]+\.html$"),
    ),  # FR/EN: /488518-<slug>.html
    "hibapress.com": (re.compile(r"/details-(\d{4,})\.html$"),),
    "yabiladi.com": (re.compile(r"^/articles/details/(\d{4,})/"),),
    "telquel.ma": (re.compile(r"_(\d{5,})/?$"),),
    "le360.ma": (re.compile(r"_([0-9A-Z]{26})/?$"),),
    "lematin.ma": (re.compile(r"/(\d{5,})(?:\.html)?/?$"),),
    "akhbarona.com": (re.compile(r"^/[a-z0-9_-]+/(\d{4,})\.html$"),),
    "lebrief.ma": (re.compile(r"-(\d{6,})/?$"),),
    "moroccoworldnews.com": (re.compile(r"^/\d{4}/\d{2}/(\d{4,})/"),),
}


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only track the reader."""
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


@lru_cache(maxsize=8192)  # a page's URL is cleaned when found, when fetched and when stored
def clean_url(url: str, base: str | None = None) -> str:
    """Absolute URL with fragment and tracking parameters dropped and percent-encoding normalised."""
    url = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)]
    path = AMP_PREFIX.sub("", AMP_SUFFIX.sub("/", parts.path)) or "/"
    rebuilt = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def fold_host(netloc: str) -> str:
    """Host without mirror prefixes (www., m., amp.) and default ports."""
    host = netloc.lower().removesuffix(":80").removesuffix(":443")
    for prefix in MIRROR_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def url_key(url: str) -> str:
    """Dedupe identity of a URL: scheme, mirror host prefix and trailing slash folded."""
    parts = urlsplit(clean_url(url))
    path = parts.path.rstrip("/") or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{fold_host(parts.netloc)}{path}{query}"


def _site_patterns(host: str) -> tuple[re.Pattern[str], ...]:
    for site, patterns in POST_ID_PATTERNS.items():
        if host == site or host.endswith("." + site):
            return patterns
    return ()


def post_id(url: str) -> str | None:
    """The site's own post id (`host:id`) when the URL carries one, else None."""
    parts = urlsplit(url)
    host = fold_host(parts.netloc)
    wp_id = dict(parse_qsl(parts.query)).get("p")
    if wp_id and wp_id.isdigit():  # WordPress's permanent ?p=<id> form, on any site
        return f"{host}:{wp_id}"
    for pattern in _site_patterns(host):
        match = pattern.search(parts.path)
        if match:
            return f"{host}:{match.group(1)}"
    return None


def identity_keys(*urls: str | None, guid: str | None = None) -> list[str]:
    """All keys under which an article is known: URL keys, feed GUID and post id."""
    keys: list[str] = []
    web_urls = [u for u in urls if u and u.startswith(("http://", "https://"))]
    for url in web_urls:
        keys.append(f"url:{url_key(url)}")
        pid = post_id(url)
        if pid:
            keys.append(f"post:{pid}")
    if guid and guid.strip():
        guid = guid.strip()
        if guid.startswith(("http://", "https://")):
            keys.append(f"guid:{url_key(guid)}")
            pid = post_id(guid)
            if pid:
                keys.append(f"post:{pid}")
        elif web_urls:
            # A bare GUID ("12345") is unique only within its site.
            keys.append(f"guid:{domain(web_urls[0])}:{guid}")
    return list(dict.fromkeys(keys))


def domain(url: str) -> str:
    """The folded host of a URL, used to name download slots and sites."""
    return fold_host(urlsplit(url).netloc)


def endpoint(url: str) -> str:
    """Where a URL connects: scheme, host and port, nothing folded (www. and m. may be other
    servers, and a refused port 80 says nothing of port 443)."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    except ValueError:  # ":abc" or ":99999": the download fails on its own, with its own message
        port = 0
    return f"{(parts.hostname or '').lower()}:{port}"


def trusted_canonical(canonical: str | None, fetched: str, route_url: str = "") -> str:
    """The page's rel=canonical when it can be trusted as the article's address, else the fetched URL.

    A canonical on another site (syndication), on the site's home page, or on the listing or feed
    that led to the page would merge different articles into one.
    """
    if not canonical:
        return fetched
    absolute = urljoin(fetched, canonical.strip())
    if not absolute.startswith(("http://", "https://")) or domain(absolute) != domain(fetched):
        return fetched
    key = url_key(absolute)
    if urlsplit(absolute).path.strip("/") == "" or (route_url and key == url_key(route_url)):
        return fetched
    return absolute
