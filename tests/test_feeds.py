"""Feed and sitemap parsing on real captured feeds and on hostile or broken bodies."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from crawler.exceptions import FeedError, UnsafeXMLError
from crawler.extract.feeds import parse_feed
from crawler.extract.sitemaps import parse_sitemap

REAL = Path(__file__).parent / "fixtures" / "realdata"
RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<language>fr-FR</language>{items}</channel></rss>"""
ITEM = "<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>{extra}</item>"


def rss(*items: str) -> bytes:
    return RSS.format(items="".join(items)).encode()


def test_real_hespress_feed() -> None:
    entries = parse_feed((REAL / "hespress_feed.xml").read_bytes(), "https://example.org/feed")
    assert len(entries) == 10
    first = entries[0]
    assert first.title == '"بيت مال القدس" تطلق حملة رمضان'
    assert first.url.endswith("-1701642.html")
    assert first.published_at and first.published_at.endswith("Z")
    assert all("appeared first on" not in (e.summary or "") + (e.content or "") for e in entries)
    assert all(not (e.summary or "").endswith("[…]") for e in entries)


def test_a_sentence_like_the_footer_is_not_taken_for_it() -> None:
    # Legal news: "L'article 47 de la Constitution …" earlier in the text must survive the French
    # footer, and a sentence ending "appeared first on …" is not a footer unless it stands alone.
    from crawler.extract.cleaning import strip_feed_footer

    text = (
        "Le texte de loi. L'article 47 de la Constitution prévoit un vote mardi.\n\n"
        "L’article Un vote est apparu en premier sur Le Desk."
    )
    assert (
        strip_feed_footer(text) == "Le texte de loi. L'article 47 de la Constitution prévoit un vote mardi."
    )
    odd = "Rabat. The post office appeared first on the list of closures."
    assert strip_feed_footer(odd) == odd


@pytest.mark.parametrize(
    "footer",
    [
        "<p>The post Cloud souverain : deux data centers d’ici 2027 appeared first on H24info.</p>",
        (
            "<p>L&#8217;article Cloud souverain : deux data centers d’ici 2027 est apparu en premier sur "
            "<a href='https://h24info.ma'>H24info</a>.</p>"
        ),
    ],
)
def test_the_wordpress_footer_leaves_summaries_and_full_texts(footer: str) -> None:
    # A body stored from the feed's full text (its page failed) kept the footer, and search found it.
    item = (
        "<item><title>Cloud souverain</title><link>https://h24info.ma/x/</link>"
        f"<description><![CDATA[<p>La feuille de route [&#8230;]</p>{footer}]]></description>"
        f"<content:encoded><![CDATA[<p>Le texte entier de l’article.</p>{footer}]]></content:encoded></item>"
    )
    feed = rss(item).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    )
    [entry] = parse_feed(feed, "https://h24info.ma/feed")
    assert (entry.summary, entry.content) == ("La feuille de route", "Le texte entier de l’article.")


def test_real_telquel_feed_keeps_every_item() -> None:
    entries = parse_feed((REAL / "telquel_feed.xml").read_bytes(), "https://telquel.ma/feed")
    assert len(entries) == 10
    assert all(e.url.startswith("https://") for e in entries)


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = rss(ITEM.format(title="a", link="/2026/03/24/slug_123456", guid="x1", extra=""))
    entries = parse_feed(body, "https://telquel.ma/feed")
    assert entries[0].url == "https://telquel.ma/2026/03/24/slug_123456"
    assert entries[0].language == "fr"


def test_cp1252_bytes_declared_utf8_still_read() -> None:
    body = rss(ITEM.format(title="Économie et société", link="https://x.ma/a", guid="g", extra=""))
    body = body.decode().encode("cp1252")
    entries = parse_feed(body, "https://x.ma/feed", {"Content-Type": "application/rss+xml; charset=utf-8"})
    assert entries[0].title == "Économie et société"


def test_json_feed() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "1", '
        b'"url": "https://x.ma/a-12345", "title": "Titre", "content_text": "Texte", '
        b'"date_published": "2026-11-24T10:00:00+01:00", "authors": [{"name": "Sara"}]}]}'
    )
    [entry] = parse_feed(body, "https://x.ma/feed.json", {"content-type": "application/feed+json"})
    assert (entry.title, entry.author, entry.published_at) == ("Titre", "Sara", "2026-11-24T09:00:00Z")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response body"),
        (
            b"<!DOCTYPE html><html><head><title>x</title></head><body>hi</body></html>",
            "not a feed: the server sent an HTML page",
        ),
        (b"<?xml version='1.0'?><rss><channel><item><title>broken", "malformed XML"),
        (rss(), "the feed has no entries"),
        (b'{"hello": 1}', "not a feed: JSON without a jsonfeed.org version"),
    ],
)
def test_unusable_feeds_say_why(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body, "https://x.ma/feed")


BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><item><title>&lol3;</title><link>https://x.ma/a</link></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&xxe;</title><link>https://x.ma/a</link></item></channel></rss>"""


@pytest.mark.parametrize("body", [BOMB, XXE], ids=["entity-bomb", "external-entity"])
@pytest.mark.parametrize("parser", [parse_feed, parse_sitemap], ids=["feed", "sitemap"])
def test_entity_declarations_are_refused(body: bytes, parser) -> None:
    with pytest.raises(UnsafeXMLError, match="declares XML entities"):
        parser(body, "https://x.ma/feed")


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://fr.le360.ma/politique/slug_ABCDEFGHIJKLMNOPQRSTUVWXYZ/</loc><lastmod>2025-04-07T12:30:00+01:00</lastmod>
<news:news><news:publication><news:name>Le360</news:name><news:language>fr</news:language></news:publication>
<news:publication_date>2025-04-07T12:18:00+01:00</news:publication_date><news:title>Un titre</news:title></news:news></url>
</urlset>"""
INDEX = b"""<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>/sitemaps/section-1.xml.gz</loc><lastmod>2025-04-07</lastmod></sitemap></sitemapindex>"""


def test_news_sitemap_fields() -> None:
    [entry] = parse_sitemap(NEWS_SITEMAP, "https://fr.le360.ma/sitemap-news/").entries
    assert (entry.title, entry.language, entry.published_at) == ("Un titre", "fr", "2025-04-07T11:18:00Z")


def test_gzipped_sitemap_and_index() -> None:
    assert len(parse_sitemap(gzip.compress(NEWS_SITEMAP), "https://x.ma/s.xml.gz").entries) == 1
    [child] = parse_sitemap(INDEX, "https://fr.le360.ma/index.xml").children
    assert child.url == "https://fr.le360.ma/sitemaps/section-1.xml.gz"


def test_gzip_bomb_is_refused() -> None:
    with pytest.raises(FeedError, match="inflates past"):
        parse_sitemap(gzip.compress(b"<urlset>" + b" " * 200_000 + b"</urlset>"), "https://x.ma/s", 100_000)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>x</body></html>", "not a sitemap"),
        (b"<rss version='2.0'></rss>", "root element <rss>"),
        (b"\x1f\x8bnot gzip at all", "broken gzip sitemap"),
    ],
)
def test_unusable_sitemaps_say_why(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_sitemap(body, "https://x.ma/s.xml")


def test_one_malformed_entry_does_not_cost_the_feed() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>bad date</title><link href="https://x.ma/a-1"/><id>1</id><updated>0000-01-01T00:00:00Z</updated></entry>
<entry><title>bad url</title><link href="http://[::1/x"/><id>2</id></entry>
<entry><title>good</title><link href="https://x.ma/b-2"/><id>3</id><updated>2026-11-24T10:00:00Z</updated></entry>
</feed>"""
    entries = {e.title: e for e in parse_feed(atom, "https://x.ma/atom")}
    assert entries["bad date"].updated_at is None
    assert entries["good"].updated_at == "2026-11-24T10:00:00Z"


def test_guids_shared_by_several_entries_are_dropped() -> None:
    body = rss(
        ITEM.format(title="a", link="https://x.ma/a", guid="same", extra=""),
        ITEM.format(title="b", link="https://x.ma/b", guid="same", extra=""),
        ITEM.format(title="c", link="https://x.ma/c", guid="own", extra=""),
    )
    guids = [e.guid for e in parse_feed(body, "https://x.ma/feed")]
    assert guids[:2] == [None, None] and guids[2].endswith("own")


def test_google_news_items_point_at_the_publisher() -> None:
    item = (
        "<item><title>Le Maroc lance sa stratégie IA - Hespress FR</title>"
        "<link>https://news.google.com/rss/articles/CBMiabc?oc=5</link><guid>CBMiabc</guid>"
        '<description>&lt;a href="https://fr.hespress.com/488518-strategie-ia.html" target="_blank"&gt;'
        "Le Maroc lance sa stratégie IA&lt;/a&gt;</description>"
        '<source url="https://fr.hespress.com">Hespress FR</source></item>'
    )
    [entry] = parse_feed(rss(item), "https://news.google.com/rss/search?q=site:fr.hespress.com")
    assert entry.url == "https://fr.hespress.com/488518-strategie-ia.html"
    assert entry.title == "Le Maroc lance sa stratégie IA" and entry.guid is None


def test_entity_declaration_after_a_long_comment_is_refused() -> None:
    padded = BOMB.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0"?><!--' + b" " * 100_000 + b"-->")
    with pytest.raises(UnsafeXMLError):
        parse_feed(padded, "https://x.ma/feed")


def test_one_malformed_sitemap_entry_is_skipped() -> None:
    body = NEWS_SITEMAP.replace(b"</urlset>", b"<url><loc>http://[::1/x</loc></url></urlset>")
    assert len(parse_sitemap(body, "https://x.ma/s.xml").entries) == 1
