"""CSS-or-XPath selectors from the config: a selector starting with / or ( is XPath."""

from __future__ import annotations

from cssselect import SelectorError
from lxml import etree
from parsel import Selector, SelectorList
from parsel.csstranslator import HTMLTranslator

_translator = HTMLTranslator()


def is_xpath(selector: str) -> bool:
    """True when the config selector is an XPath expression."""
    return selector.lstrip().startswith(("/", "("))


def selector_error(selector: str) -> str | None:
    """Why a selector does not compile, or None when it does."""
    try:
        if is_xpath(selector):
            etree.XPath(selector)
        else:
            _translator.css_to_xpath(selector)
    except (etree.XPathSyntaxError, SelectorError) as exc:
        return str(exc) or type(exc).__name__
    return None


def select(doc: Selector, selector: str) -> SelectorList:
    """Apply a config selector to a parsed document."""
    return doc.xpath(selector) if is_xpath(selector) else doc.css(selector)


def select_text(doc: Selector, selector: str) -> str | None:
    """Whitespace-joined text of the nodes a selector finds, or None."""
    texts = []
    for node in select(doc, selector):
        if isinstance(node.root, str):
            texts.append(node.root)
        else:
            texts.append(" ".join(t.strip() for t in node.xpath(".//text()").getall() if t.strip()))
    text = "\n".join(t for t in texts if t)
    return text or None


def select_links(doc: Selector, selector: str) -> list[str]:
    """Hrefs (or attribute/text values) of the nodes a link selector finds."""
    out = []
    for node in select(doc, selector):
        if isinstance(node.root, str):
            out.append(node.root)
        else:
            href = node.attrib.get("href") or node.xpath(".//a/@href").get()
            if href:
                out.append(href)
    return out
