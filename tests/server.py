"""A real HTTP server on loopback whose routes misbehave the way real sites do.

Every request is counted by path (``server.hits``) and its headers kept
(``server.requests``), so tests can assert what was fetched and how often.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .conftest import FIXTURES

Route = Callable[["Handler"], None]
PAGES = sorted(p.stem for p in (FIXTURES / "pages").glob("*.html"))
HUGE = 20_000_000


class Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        with self.server.lock:
            self.server.hits[path] += 1
            self.server.requests.append((path, dict(self.headers)))
            count = self.server.hits[path]
        route = self.server.routes.get(path)
        if route is None:
            self.send(404, b"not found", "text/plain")
        else:
            self.count = count
            route(self)

    def send(self, status: int, body: bytes, ctype: str = "text/html", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.routes: dict[str, Route] = {}
        self.base = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()

    def fetched(self, path: str) -> int:
        return self.hits[path]


def page_route(name: str, etag: str | None = None) -> Route:
    """A fixture page; with ``etag``, a matching If-None-Match gets a 304."""
    body = (FIXTURES / "pages" / f"{name}.html").read_bytes()

    def route(h: Handler) -> None:
        if etag and h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        extra = {"ETag": etag, "Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"} if etag else {}
        h.send(200, body, "text/html; charset=utf-8", **extra)

    return route


def status_then_page(statuses: list[int], name: str, **headers: str) -> Route:
    """``statuses`` in turn (with ``headers``), then the fixture page."""
    ok = page_route(name)

    def route(h: Handler) -> None:
        if h.count <= len(statuses):
            h.send(statuses[h.count - 1], b"busy", "text/plain", **headers)
        else:
            ok(h)

    return route


def slow(seconds: float) -> Route:
    def route(h: Handler) -> None:
        time.sleep(seconds)
        h.send(200, b"<p>too late</p>")

    return route


def drop(h: Handler) -> None:
    """Close the connection without answering."""
    h.close_connection = True
    h.connection.close()


def redirect_to(location: str) -> Route:
    def route(h: Handler) -> None:
        h.send(302, b"", Location=location)

    return route


def huge(h: Handler) -> None:
    """20 MB of HTML with no Content-Length: only the streaming cap can stop it."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    chunk = b"<p>" + b"x" * 65_533
    try:
        for _ in range(HUGE // len(chunk)):
            h.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


def gzip_bomb(h: Handler) -> None:
    """A small gzip body that inflates to 20 MB."""
    h.send(200, gzip.compress(b"\0" * HUGE, 9), Content_Encoding="gzip")


def text(body: str, ctype: str = "text/plain") -> Route:
    def route(h: Handler) -> None:
        h.send(200, body.format(base=h.server.base).encode(), ctype)

    return route


def iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")


def stalled(arrived: threading.Event, release: threading.Event, name: str = PAGES[0]) -> Route:
    """Flags ``arrived``, then answers with a fixture page only once ``release`` is
    set (or after 40 s): a fetch that stays in flight for as long as a test needs."""
    page = page_route(name)

    def route(h: Handler) -> None:
        arrived.set()
        release.wait(40)
        with contextlib.suppress(OSError):  # the client gave up long ago
            page(h)

    return route


def announced(arrived: threading.Event, route: Route) -> Route:
    """``route``, flagging ``arrived`` as each request comes in."""

    def wrapped(h: Handler) -> None:
        arrived.set()
        route(h)

    return wrapped
