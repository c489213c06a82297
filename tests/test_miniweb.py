"""Fast tests of the fixture mini web (tests/miniweb.py) and of the fixture files it serves."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import yaml

from tests.miniweb import MiniWeb, free_port

WEB = Path(__file__).parent / "fixtures" / "web"
CONFIG = Path(__file__).parent / "fixtures" / "config"
EXPECTED = yaml.safe_load((WEB / "EXPECTED.yaml").read_text("utf-8"))
SITES = ["ar-maghreb", "arc-fr", "faults", "list-fr", "rel-cp1252", "wire", "wp-ar"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_no_redirect = urllib.request.build_opener(_NoRedirect)


def get(
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    follow: bool = True,
    timeout: float = 5,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) without raising on HTTP error statuses."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    opener = urllib.request.build_opener() if follow else _no_redirect
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def web() -> Iterator[MiniWeb]:
    with MiniWeb(WEB) as mini:
        yield mini


@pytest.fixture(autouse=True)
def _clean(web: MiniWeb) -> Iterator[None]:
    yield
    web.reset()


def test_one_server_per_site(web: MiniWeb) -> None:
    assert web.sites == SITES
    bases = {web.base(s) for s in web.sites}
    assert len(bases) == len(SITES)
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", b) for b in bases)
    for site in web.sites:
        status, headers, body = get(web.base(site) + "/robots.txt")
        assert status == 200 and body.startswith(b"User-agent: *")
        assert headers["Content-Type"].startswith("text/plain")


def test_templating_own_and_other_base(web: MiniWeb) -> None:
    status, headers, body = get(web.base("wp-ar") + "/feed")
    assert status == 200 and headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert b"{{BASE" not in body and body.count(web.base("wp-ar").encode()) >= 10
    web.put("wire", "/links.html", "<a href='{{BASE:arc-fr}}/x'>{{BASE}}</a>")
    assert get(web.base("wire") + "/links.html")[2].decode() == (
        f"<a href='{web.base('arc-fr')}/x'>{web.base('wire')}</a>"
    )


def test_percent_encoded_arabic_path(web: MiniWeb) -> None:
    article = next(a for a in EXPECTED["articles"] if a["site"] == "wp-ar")
    assert article["path"].startswith("/%d8%") or article["path"].startswith("/%d9%")
    status, headers, body = get(web.base("wp-ar") + article["path"])
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.escape(article["title"]) in body.decode()
    upper = re.sub(r"%[0-9a-f]{2}", lambda m: m.group(0).upper(), article["path"])
    assert get(web.base("wp-ar") + upper)[0] == 200  # same file, whatever the hex case
    assert web.requests("wp-ar")[-1].path == upper  # logged raw


def test_directory_index_redirect_and_404(web: MiniWeb) -> None:
    base = web.base("list-fr")
    assert get(base + "/maroc/page/2/")[0] == 200
    status, headers, _ = get(base + "/maroc/page/2", follow=False)
    assert status == 301 and headers["Location"] == base + "/maroc/page/2/"
    status, headers, body = get(web.base("arc-fr") + "/arc/outboundfeeds/sitemap-news/")
    assert status == 200 and headers["Content-Type"] == "application/xml; charset=utf-8"
    assert body.count(b"<news:publication_date>") == 4
    assert get(base + "/nope/")[0] == 404
    assert get(base + "/../../EXPECTED.yaml")[0] == 404
    assert get(base + "/%2e%2e/%2e%2e/EXPECTED.yaml")[0] == 404
    assert get(base + "/bad%00name")[0] == 404
    assert get(web.base("rel-cp1252") + "/_headers.yaml")[0] == 404
    assert get(web.base("faults") + "/_retry-after-feed.xml")[0] == 404


def test_query_string_files(web: MiniWeb) -> None:
    base = web.base("wp-ar")
    paged = get(base + "/feed?paged=2")[2]  # file "feed__paged=2"
    assert b"<channel>" in paged and b"<item>" not in paged
    assert get(base + "/feed?utm_source=x")[2] == get(base + "/feed")[2]  # falls back to "feed"
    web.put("wp-ar", "/feed?paged=3", "<rss/>")
    assert get(base + "/feed?paged=3")[2] == b"<rss/>"


def test_headers_yaml_overrides(web: MiniWeb) -> None:
    headers = get(web.base("rel-cp1252") + "/feed")[1]
    assert headers["Content-Type"] == "application/rss+xml; charset=UTF-8"
    status, headers, body = get(web.base("faults") + "/html-as-feed")
    assert status == 200 and headers["Content-Type"] == "text/html" and b"<html" in body


def test_conditional_get(web: MiniWeb) -> None:
    url = web.base("wire") + "/rss.xml"
    status, headers, body = get(url)
    assert headers["ETag"] == '"' + hashlib.sha1(body).hexdigest() + '"'
    assert headers["Content-Length"] == str(len(body))
    last_modified = headers["Last-Modified"]
    assert get(url, {"If-None-Match": headers["ETag"]})[:3:2] == (304, b"")
    assert get(url, {"If-None-Match": 'W/"other", ' + headers["ETag"]})[0] == 304
    assert get(url, {"If-None-Match": '"other"'})[0] == 200
    assert get(url, {"If-Modified-Since": last_modified})[:3:2] == (304, b"")
    earlier = email.utils.parsedate_to_datetime(last_modified).timestamp() - 10
    assert get(url, {"If-Modified-Since": email.utils.formatdate(earlier, usegmt=True)})[0] == 200
    status, head_headers, head_body = get(url, method="HEAD")
    assert status == 200 and head_body == b"" and head_headers["ETag"] == headers["ETag"]


def test_put_changes_etag_and_remove(web: MiniWeb) -> None:
    url = web.base("wp-ar") + "/feed"
    _, before, _ = get(url)
    web.put("wp-ar", "/feed", "<rss version='2.0'><channel><title>v2</title></channel></rss>")
    status, after, body = get(url, {"If-None-Match": before["ETag"]})
    assert status == 200 and b"v2" in body and after["ETag"] != before["ETag"]
    assert after["Content-Type"].startswith("application/rss+xml")
    parse = email.utils.parsedate_to_datetime
    assert parse(after["Last-Modified"]) > parse(before["Last-Modified"])
    web.put("wp-ar", "/feed", "<rss version='2.0'><channel><title>v3</title></channel></rss>")
    assert get(url, {"If-Modified-Since": after["Last-Modified"]})[0] == 200  # strictly newer
    new = "/%d8%ac%d8%af%d9%8a%d8%af-1800000.html"  # /جديد-1800000.html
    web.put("wp-ar", "/جديد-1800000.html", "<html><body>جديد</body></html>")
    assert "جديد" in get(web.base("wp-ar") + new)[2].decode()
    web.remove("wp-ar", new)
    assert get(web.base("wp-ar") + new)[0] == 404
    web.remove("wp-ar", "/robots.txt")  # hides a file on disk too
    assert get(web.base("wp-ar") + "/robots.txt")[0] == 404
    web.reset()
    assert get(web.base("wp-ar") + "/robots.txt")[0] == 200
    assert get(url)[1]["ETag"] == before["ETag"]


def test_gzip_sitemap_is_real_gzip(web: MiniWeb) -> None:
    index = get(web.base("arc-fr") + "/arc/outboundfeeds/sitemap-index/")[2].decode()
    gz_url = re.search(r"<loc>(.*?)</loc>", index).group(1)
    assert gz_url == web.base("arc-fr") + "/sitemaps/section-1.xml.gz"
    status, headers, body = get(gz_url)
    assert status == 200 and headers["Content-Type"] == "application/x-gzip"
    assert "Content-Encoding" not in headers and body[:2] == b"\x1f\x8b"
    sitemap = gzip.decompress(body).decode()
    assert sitemap.count(f"<loc>{web.base('arc-fr')}/") == 2 and "{{BASE" not in sitemap


def test_request_log(web: MiniWeb) -> None:
    web.clear_log()
    get(web.base("wire") + "/rss.xml", {"X-Test": "1"})
    get(web.base("wire") + "/missing?a=1")
    log = web.requests("wire")
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/rss.xml", 200),
        ("GET", "/missing?a=1", 404),
    ]
    assert log[0].headers["X-Test"] == "1"
    web.clear_log()
    assert web.requests("wire") == []


def test_fault_statuses_and_redirect_loop(web: MiniWeb) -> None:
    base = web.base("faults")
    assert get(base + "/status/404")[0] == 404
    assert get(base + "/status/500")[0] == 500
    status, headers, _ = get(base + "/redirect-loop", follow=False)
    assert status == 302 and headers["Location"] == base + "/redirect-loop/again"
    status, headers, _ = get(base + "/redirect-loop/again", follow=False)
    assert status == 302 and headers["Location"] == base + "/redirect-loop"
    assert get(base + "/redirect-loop")[0] == 302  # urllib gives up on the loop


def test_fault_retry_after(web: MiniWeb) -> None:
    url = web.base("faults") + "/status/503-retry-after"
    status, headers, _ = get(url)
    assert status == 503 and headers["Retry-After"] == "1"
    status, _, body = get(url)
    assert status == 200 and len(feedparser.parse(body).entries) == 1
    web.reset()
    assert get(url)[0] == 503


def test_fault_slow(web: MiniWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "slow_seconds", 1.0)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get(web.base("faults") + "/slow", timeout=0.2)
    monkeypatch.setattr(web, "slow_seconds", 0.05)
    assert get(web.base("faults") + "/slow")[0] == 200


def test_fault_huge_has_no_content_length(web: MiniWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "huge_bytes", 300_000)
    status, headers, body = get(web.base("faults") + "/huge.xml")
    assert status == 200 and "Content-Length" not in headers
    assert len(body) >= 300_000 and body.rstrip().endswith(b"</rss>")


def test_free_port_refuses_connections() -> None:
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", free_port())):
        pass


def test_sources_template_renders(web: MiniWeb) -> None:
    rendered = web.render((CONFIG / "sources.yaml.tmpl").read_text("utf-8"))
    assert "{{" not in rendered
    sources = yaml.safe_load(rendered)["sources"]
    names = [s["name"] for s in sources]
    assert len(names) == len(set(names)) == 20
    assert all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)
    urls = [u for s in sources for u in s.get("feeds", []) + s.get("sitemaps", [])]
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    assert yaml.safe_load((CONFIG / "settings.yaml").read_text())["max_response_bytes"] == 1_000_000


# -- fixture integrity ---------------------------------------------------------------------------
def test_base_tokens_name_existing_sites() -> None:
    for file in (f for site in SITES for f in (WEB / site).rglob("*")):
        if file.is_file() and file.suffix != ".gz":
            for name in re.findall(rb"\{\{BASE:([^}]*)\}\}", file.read_bytes()):
                assert name.decode() in SITES, file


@pytest.mark.parametrize("article", EXPECTED["articles"], ids=lambda a: a["site"] + a["path"][:30])
def test_expected_articles_are_served(web: MiniWeb, article: dict) -> None:
    status, _, body = get(web.base(article["site"]) + article["path"])
    text = html.unescape(body.decode("utf-8"))
    assert status == 200 and article["title"] in text
    assert article["body_snippet"] in text and article["boilerplate_snippet"] in text
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", article["published_at"])


def test_expected_counts_and_wire_pair() -> None:
    assert EXPECTED["counts"] == {
        "wp-ar": 5,
        "arc-fr": 6,
        "list-fr": 7,
        "ar-maghreb": 5,
        "rel-cp1252": 4,
        "wire": 2,
        "faults": 3,
    }
    [pair] = EXPECTED["wire_pairs"]
    assert {a["site"] for a in pair["articles"]} == {"arc-fr", "wire"}


def test_feed_fixtures_parse_as_documented(web: MiniWeb) -> None:
    def parse(site: str, path: str) -> feedparser.FeedParserDict:
        status, headers, body = get(web.base(site) + path)
        assert status == 200
        return feedparser.parse(
            body,
            response_headers={
                "content-type": headers["Content-Type"],
                "content-location": web.base(site) + path,
            },
        )

    assert len(parse("faults", "/malformed.xml").entries) == 0
    empty = parse("faults", "/empty.xml")
    assert len(empty.entries) == 0 and not empty.bozo
    wrong = parse("faults", "/wrong-encoding.xml")
    assert next(e.title for e in wrong.entries).endswith("pour la randonnée")
    relative = parse("rel-cp1252", "/feed")
    assert relative.encoding == "windows-1252" and len(relative.entries) == 4
    assert all(e.link.startswith(web.base("rel-cp1252") + "/") for e in relative.entries)
    assert all("published" not in e for e in parse("ar-maghreb", "/feed/").entries)
    assert len(parse("wp-ar", "/feed").entries) == 5
