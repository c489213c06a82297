"""Refuse XML that declares entities (billion laughs, external entities) before any parser sees it."""

from __future__ import annotations

import re

from crawler.exceptions import UnsafeXMLError

ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)


def check_xml_safety(body: bytes) -> None:
    """Raise UnsafeXMLError when the document declares entities anywhere; news feeds never need them."""
    # The whole body: a long comment can push the DOCTYPE past any prefix we would look at.
    if b"\x00" in body[:200]:
        body = body.replace(b"\x00", b"")  # UTF-16: look at the ASCII bytes only.
    if ENTITY_DECL.search(body):
        raise UnsafeXMLError(
            "refused: the document declares XML entities (entity bomb or external entity) "
            "(hint: a real feed never does; the site may be compromised)"
        )


def looks_like_html(body: bytes) -> bool:
    """True when the body starts like an HTML page rather than XML."""
    return bool(HTML_START.match(body[:4096]))
