"""URL identity: one article whatever form its URL takes."""

from __future__ import annotations

import re

import pytest

from crawler.extract.urls import clean_url, identity_keys, post_id, url_key

ENCODED = (
    "https://www.hespress.com/%d8%a8%d9%8a%d8%aa-%d9%85%d8%a7%d9%84-%d8%a7%d9%84%d9%82%d8%af%d8%b3"
    "-1701642.html"
)
DECODED = "https://www.hespress.com/بيت-مال-القدس-1701642.html"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (ENCODED, DECODED),
        (ENCODED, re.sub(r"%[0-9a-f]{2}", lambda m: m.group(0).upper(), ENCODED).replace("www.", "")),
        ("https://telquel.ma/2026/03/24/slug_123456", "http://mobile.telquel.ma/2026/03/24/slug_123456/"),
        ("https://www.le360.ma/a/?utm_source=fb&utm_medium=x&id=3", "https://le360.ma/a?id=3#comments"),
        ("https://lebrief.ma/slug-100160257/", "https://m.lebrief.ma/slug-100160257/amp/"),
        ("https://www.hespress.com/slug-1702003.html", "https://www.hespress.com/amp/slug-1702003.html"),
        ("https://www.le360.ma/economie/slug/", "https://le360.ma/amp/economie/slug/"),
        ("https://x.ma/a?b=2&a=1", "https://x.ma/a?a=1&b=2&fbclid=XYZ"),
    ],
)
def test_same_article_same_key(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


def test_different_articles_differ() -> None:
    assert url_key("https://x.ma/a?id=1") != url_key("https://x.ma/a?id=2")
    assert url_key("https://x.ma/a") != url_key("https://y.ma/a")


def test_clean_url_keeps_scheme_and_drops_tracking() -> None:
    assert clean_url("http://x.ma/p?utm_campaign=z&p=1#top") == "http://x.ma/p?p=1"
    assert clean_url("/a/b", base="https://x.ma/feed") == "https://x.ma/a/b"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (ENCODED, "hespress.com:1701642"),
        ("https://fr.hespress.com/488518-finale-du-mondial.html", "fr.hespress.com:488518"),
        ("https://www.hespress.com/?p=1702003", "hespress.com:1702003"),
        ("https://ar.hibapress.com/details-412345.html", "ar.hibapress.com:412345"),
        ("https://www.yabiladi.com/articles/details/165432/slug.html", "yabiladi.com:165432"),
        ("https://telquel.ma/instant-t/2026/03/24/slug_1234567/", "telquel.ma:1234567"),
        (
            "https://fr.le360.ma/politique/slug_ABCDEFGHIJKLMNOPQRSTUVWXYZ/",
            "fr.le360.ma:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ),
        ("https://lematin.ma/nation/slug/294959", "lematin.ma:294959"),
        ("https://www.moroccoworldnews.com/2026/03/123456/slug/", "moroccoworldnews.com:123456"),
        ("https://www.h24info.ma/maroc/une-belle-histoire/", None),
        ("https://medias24.com/2025/07/29/slug/", None),
        # Numbers that are not post ids must not merge articles.
        ("https://2m.ma/ar/news/slug-20191215/", None),
        ("https://www.h24info.ma/maroc/loi-de-finances-100000/", None),
        ("https://www.yabiladi.com/articles/details/123457/maroc-300000.html", "yabiladi.com:123457"),
        ("https://www.hespress.com/tag/2026-100000", None),
    ],
)
def test_post_id(url: str, expected: str | None) -> None:
    assert post_id(url) == expected


def test_guid_and_link_share_the_post_id_key() -> None:
    by_link = identity_keys(ENCODED)
    by_guid = identity_keys(guid="https://www.hespress.com/?p=1701642")
    assert set(by_link) & set(by_guid) == {"post:hespress.com:1701642"}


def test_bare_guids_are_scoped_to_their_site() -> None:
    a = identity_keys("https://a.ma/x", guid="12345")
    b = identity_keys("https://b.ma/y", guid="12345")
    assert "guid:a.ma:12345" in a and not set(a) & set(b)


def test_an_endpoint_is_the_real_host_and_port() -> None:
    # A dead amp.site.ma says nothing of www.site.ma, nor a refused port 80 of port 443.
    from crawler.extract.urls import endpoint

    assert endpoint("https://amp.site.ma/rss") == "amp.site.ma:443" != endpoint("https://www.site.ma/feed")
    assert endpoint("http://Site.ma/feed") == "site.ma:80" != endpoint("https://site.ma/feed")
    assert endpoint("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert endpoint("http://site.ma:99999/x") == "site.ma:0"  # no exception for a bad port
