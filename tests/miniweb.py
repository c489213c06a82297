"""A fixture "mini web": small news sites served by real HTTP servers on 127.0.0.1.

Each directory under ``root`` is one site, served by its own ``ThreadingHTTPServer`` on a
free port. See ``tests/fixtures/web/README.md`` for the sites and the file-naming rules:

* ``/a/b.html`` serves ``<site>/a/b.html``; a path ending in ``/`` serves ``index.html``
  (or ``index.xml``) in that directory; a directory requested without the slash is 301-redirected.
* Paths are percent-decoded (UTF-8) before the lookup, so Arabic slugs are stored decoded.
* A query string is looked up as ``<file>__<query>`` (``/feed?page=2`` -> ``feed__page=2``,
  ``/x/?a=1`` -> ``x/index.html__a=1``), falling back to the file without the query.
* Names starting with ``_`` or ``.`` are never served; ``_headers.yaml`` (URL path -> headers,
  ``null`` removes a header) overrides response headers.
* ``{{BASE}}`` and ``{{BASE:other-site}}`` are replaced in every served file (inside ``.gz``
  files too: they are decompressed, templated and recompressed with mtime 0).
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import hashlib
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

FAULTS = "faults"
_TOKEN = re.compile(rb"\{\{BASE(?::([A-Za-z0-9_-]+))?\}\}")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".gz": "application/x-gzip",
    ".txt": "text/plain; charset=utf-8",
}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guess_type(name: str, body: bytes) -> str:
    """Content-Type from the extension, else sniffed (RSS/Atom, other XML, HTML, text)."""
    suffix = Path(name.split("__", 1)[0].split("?", 1)[0]).suffix.lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<rss" in head or b"<rdf:rdf" in head:
        return "application/rss+xml; charset=utf-8"
    if b"<feed" in head:
        return "application/atom+xml; charset=utf-8"
    if head.startswith(b"<?xml") or suffix == ".xml":
        return "application/xml; charset=utf-8"
    if head.startswith((b"<!doctype html", b"<html")):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


@dataclass
class Logged:
    """One request as the server saw it."""

    method: str
    path: str  # raw request target, still percent-encoded
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Doc:
    body: bytes
    mtime: float
    name: str  # file or key name, used to guess the Content-Type


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer

    def do_GET(self) -> None:
        self.server.web._handle(self, self.server.site)

    do_HEAD = do_GET  # noqa: N815 (http.server's name)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (see MiniWeb.requests)."""


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, web: MiniWeb, site: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.web, self.site = web, site


class MiniWeb:
    """Serve every site directory under ``root`` on its own port; see the module docstring."""

    slow_seconds: float = 5.0
    huge_bytes: int = 3 * 1024 * 1024

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.sites: list[str] = sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and p.name[0] not in "_."
        )
        self._servers: dict[str, _SiteServer] = {}
        self._headers: dict[str, dict[str, dict[str, str | None]]] = {}
        self._memory: dict[tuple[str, str], _Doc] = {}
        self._removed: set[tuple[str, str]] = set()
        self._delays: dict[tuple[str, str], float] = {}
        self._log: dict[str, list[Logged]] = {s: [] for s in self.sites}
        self._hits: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> MiniWeb:
        """Start one server per site (daemon threads). Returns self."""
        self._stopping.clear()
        for site in self.sites:
            headers = self.root / site / "_headers.yaml"
            if headers.exists():
                self._headers[site] = yaml.safe_load(headers.read_text("utf-8")) or {}
            server = _SiteServer(self, site)
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._servers[site] = server
        return self

    def stop(self) -> None:
        """Stop all servers (wakes up pending /slow requests)."""
        self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> MiniWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- public API --------------------------------------------------------------------------
    def base(self, site: str) -> str:
        """Base URL of a started site, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._servers[site].server_address[1]}"

    def render(self, text: str) -> str:
        """Replace ``{{BASE:site}}`` and ``{{REFUSED}}`` (base URL of a closed port) in text."""
        text = re.sub(r"\{\{BASE:([A-Za-z0-9_-]+)\}\}", lambda m: self.base(m.group(1)), text)
        return text.replace("{{REFUSED}}", f"http://127.0.0.1:{free_port()}")

    def put(self, site: str, path: str, content: str | bytes) -> None:
        """Add or replace the document at URL ``path`` in memory (new ETag, Last-Modified = now)."""
        key = _key(path)
        body = content.encode("utf-8") if isinstance(content, str) else content
        previous = self._find(site, key)
        older = previous.mtime + 1 if isinstance(previous, _Doc) else 0.0
        mtime = max(time.time(), older)  # Last-Modified strictly increases, even within a second
        with self._lock:
            self._removed.discard((site, key))
            self._memory[(site, key)] = _Doc(body, mtime, key)

    def slow_down(self, site: str, path: str, seconds: float) -> None:
        """Make URL ``path`` wait ``seconds`` before answering (a crawl caught in the middle)."""
        with self._lock:
            self._delays[(site, _key(path))] = seconds

    def remove(self, site: str, path: str) -> None:
        """Make URL ``path`` answer 404 (drops a put() document and hides the file on disk)."""
        key = _key(path)
        with self._lock:
            self._memory.pop((site, key), None)
            self._removed.add((site, key))

    def requests(self, site: str) -> list[Logged]:
        """Requests received by ``site`` so far, oldest first."""
        with self._lock:
            return list(self._log[site])

    def clear_log(self) -> None:
        """Forget all logged requests."""
        with self._lock:
            for entries in self._log.values():
                entries.clear()

    def reset(self) -> None:
        """Clear the log, the put()/remove() overrides and the fault counters (503-retry-after)."""
        self.clear_log()
        with self._lock:
            self._memory.clear()
            self._removed.clear()
            self._delays.clear()
            self._hits.clear()

    # -- lookup ------------------------------------------------------------------------------
    def _find(self, site: str, key: str) -> _Doc | str | None:
        """Document for a decoded ``path[?query]`` key; a str is a redirect target."""
        path, _, query = key.partition("?")
        for k in ([key] if query else []) + [path]:
            with self._lock:
                if (site, k) in self._removed:
                    return None
                if (site, k) in self._memory:
                    return self._memory[(site, k)]
        root = (self.root / site).resolve()
        try:
            target = (root / path.lstrip("/")).resolve()
            hidden = any(part[0] in "_." for part in target.relative_to(root).parts)
        except (ValueError, OSError):  # outside the site, NUL byte, name too long...
            return None
        if hidden:
            return None
        if target.is_dir():
            if not path.endswith("/"):
                return path + "/" + (f"?{query}" if query else "")
            candidates = [target / "index.html", target / "index.xml"]
        else:
            candidates = [target]
        for file in candidates:
            for f in ([file.with_name(f"{file.name}__{query}")] if query else []) + [file]:
                if f.is_file():
                    return _Doc(f.read_bytes(), f.stat().st_mtime, f.name)
        return None

    def _template(self, site: str, body: bytes) -> bytes:
        def sub(m: re.Match[bytes]) -> bytes:
            name = m.group(1).decode() if m.group(1) else site
            return self.base(name).encode() if name in self._servers else m.group(0)

        return _TOKEN.sub(sub, body)

    def _final_body(self, site: str, doc: _Doc) -> bytes:
        if doc.name.split("__", 1)[0].endswith(".gz") and doc.body[:2] == b"\x1f\x8b":
            plain = gzip.decompress(doc.body)
            if not _TOKEN.search(plain):
                return doc.body
            return gzip.compress(self._template(site, plain), mtime=0)
        return self._template(site, doc.body)

    # -- HTTP --------------------------------------------------------------------------------
    def _handle(self, h: _Handler, site: str) -> None:
        # The client may go away mid-body, e.g. when its max response size is exceeded.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._respond(h, site)

    def _respond(self, h: _Handler, site: str) -> int:
        split = urlsplit(h.path)
        key = unquote(split.path) + (f"?{unquote(split.query)}" if split.query else "")
        if site == FAULTS and (status := self._fault(h, key)) is not None:
            return status
        with self._lock:
            delay = self._delays.get((site, key), 0)
        time.sleep(delay)
        doc = self._find(site, key)
        if isinstance(doc, str):
            return self._send(h, 301, {"Location": self.base(site) + doc})
        if doc is None:
            return self._send(
                h,
                404,
                {"Content-Type": "text/html; charset=utf-8"},
                b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>",
            )
        return self._send_doc(h, site, doc, self._headers.get(site, {}).get(unquote(split.path)))

    def _send_doc(self, h: _Handler, site: str, doc: _Doc, extra: dict[str, Any] | None) -> int:
        body = self._final_body(site, doc)
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        headers: dict[str, Any] = {
            "Content-Type": guess_type(doc.name, body),
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(int(doc.mtime), usegmt=True),
        }
        for name, value in (extra or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = str(value)
        if _not_modified(h, etag, int(doc.mtime)):
            keep = ("ETag", "Last-Modified")
            return self._send(h, 304, {k: v for k, v in headers.items() if k in keep})
        return self._send(h, 200, headers | {"Content-Length": str(len(body))}, body)

    def _send(
        self, h: _Handler, status: int, headers: dict[str, str], body: bytes | Iterable[bytes] = b""
    ) -> int:
        """Log the request (before the client can see the answer), then send the response."""
        with self._lock:
            self._log[h.server.site].append(Logged(h.command, h.path, status, dict(h.headers.items())))
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        if h.command != "HEAD" and status != 304:
            for chunk in [body] if isinstance(body, bytes) else body:
                h.wfile.write(chunk)
        return status

    # -- faults site ---------------------------------------------------------------------------
    def _fault(self, h: _Handler, key: str) -> int | None:
        """Built-in routes of the ``faults`` site; None means "serve from disk"."""
        path = key.partition("?")[0]
        html = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/status/503-retry-after":
            with self._lock:
                self._hits[(FAULTS, path)] += 1
                first = self._hits[(FAULTS, path)] == 1
            if first:
                body = b"<h1>503 Service Unavailable</h1>"
                return self._send(h, 503, html | {"Retry-After": "1"}, body)
            return self._send_doc(h, FAULTS, self._internal("_retry-after-feed.xml"), None)
        if m := re.fullmatch(r"/status/(\d{3})", path):
            code = int(m.group(1))
            return self._send(h, code, html, f"<h1>HTTP {code}</h1>".encode())
        if path == "/slow":
            self._stopping.wait(self.slow_seconds)
            return self._send_doc(h, FAULTS, self._internal("empty.xml"), None)
        if path in ("/redirect-loop", "/redirect-loop/again"):
            other = "/redirect-loop/again" if path == "/redirect-loop" else "/redirect-loop"
            return self._send(h, 302, html | {"Location": self.base(FAULTS) + other})
        if path == "/huge.xml":
            return self._send(
                h, 200, {"Content-Type": "application/rss+xml; charset=utf-8"}, _huge_feed(self.huge_bytes)
            )
        return None

    def _internal(self, name: str) -> _Doc:
        file = self.root / FAULTS / name
        return _Doc(file.read_bytes(), file.stat().st_mtime, name)


def _key(path: str) -> str:
    """Decoded ``path[?query]`` used to index put()/remove() documents."""
    split = urlsplit(path if path.startswith("/") else "/" + path)
    return unquote(split.path) + (f"?{unquote(split.query)}" if split.query else "")


def _not_modified(h: BaseHTTPRequestHandler, etag: str, mtime: int) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins over If-Modified-Since."""
    if inm := h.headers.get("If-None-Match"):
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or etag in tags
    if ims := h.headers.get("If-Modified-Since"):
        try:
            return mtime <= email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _huge_feed(size: int) -> Iterable[bytes]:
    """A valid RSS document of at least ``size`` bytes, padded with comments (no Content-Length)."""
    yield (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        b"<title>Huge</title><link>/</link><description>padding</description>\n"
    )
    pad = b"<!-- " + b"x" * 65_000 + b" -->\n"
    for _ in range(size // len(pad) + 1):
        yield pad
    yield b"</channel></rss>\n"
