"""URL identity: cleaning, dedupe keys and the site's numeric post id (pure functions)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "ocid", "oc", "xtor", "cmpid", "_ga", "_gl", "ref_src", "amp", "outputtype",
        "at_medium", "at_campaign", "ito", "src", "share", "s_src",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
# Sub-domains that serve the same article as the bare site.
MIRROR_PREFIXES = ("www.", "m.", "mobile.", "amp.")
AMP_SUFFIX = re.compile(r"/amp/?$")

# The numeric post id of common Moroccan CMSs, tried in order on the path.
POST_ID_PATTERNS = (
    re.compile(r"-(\d{5,})\.html?$"),  # Hespress AR: /<slug>-1702003.html
    re.compile(r"/(\d{5,})-[^/]+\.html?$"),  # Hespress FR/EN: /488518-<slug>.html
    re.compile(r"/details[-/](\d{4,})"),  # Hibapress details-<id>.html, Yabiladi /details/<id>/
    re.compile(r"_(\d{5,})/?$"),  # TelQuel /<slug>_<id>
    re.compile(r"_([0-9A-Z]{26})/?$"),  # Arc XP (Le360): /<slug>_<26-char id>/
    re.compile(r"/(\d{5,})(?:\.html?)?/?$"),  # Le Matin /<slug>/<id>, Akhbarona /<id>.html
    re.compile(r"-(\d{6,})/?$"),  # LeBrief /<slug>-<id>/
    re.compile(r"^/\d{4}/\d{2}/(\d{5,})/"),  # Morocco World News /YYYY/MM/<id>/<slug>/
)


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only track the reader."""
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def clean_url(url: str, base: str | None = None) -> str:
    """Absolute URL with fragment and tracking parameters dropped and percent-encoding normalised."""
    url = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not is_tracking_param(k)]
    path = AMP_SUFFIX.sub("/", parts.path) or "/"
    rebuilt = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def fold_host(netloc: str) -> str:
    """Host without mirror prefixes (www., m., amp.) and default ports."""
    host = netloc.lower().removesuffix(":80").removesuffix(":443")
    for prefix in MIRROR_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


def url_key(url: str) -> str:
    """Dedupe identity of a URL: scheme, mirror host prefix and trailing slash folded."""
    parts = urlsplit(clean_url(url))
    path = parts.path.rstrip("/") or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{fold_host(parts.netloc)}{path}{query}"


def post_id(url: str) -> str | None:
    """The site's own post id (`host:id`) when the URL carries one, else None."""
    parts = urlsplit(url)
    host = fold_host(parts.netloc)
    wp_id = dict(parse_qsl(parts.query)).get("p")
    if wp_id and wp_id.isdigit():
        return f"{host}:{wp_id}"
    for pattern in POST_ID_PATTERNS:
        match = pattern.search(parts.path)
        if match:
            return f"{host}:{match.group(1)}"
    return None


def identity_keys(*urls: str | None, guid: str | None = None) -> list[str]:
    """All keys under which an article is known: URL keys, feed GUID and post id."""
    keys: list[str] = []
    for url in filter(None, urls):
        if not url.startswith(("http://", "https://")):
            continue
        keys.append(f"url:{url_key(url)}")
        pid = post_id(url)
        if pid:
            keys.append(f"post:{pid}")
    if guid:
        keys.append(f"guid:{guid.strip()}")
        if guid.startswith(("http://", "https://")):
            pid = post_id(guid)
            if pid:
                keys.append(f"post:{pid}")
    return list(dict.fromkeys(keys))


def domain(url: str) -> str:
    """The folded host of a URL, used to name download slots and sites."""
    return fold_host(urlsplit(url).netloc)
