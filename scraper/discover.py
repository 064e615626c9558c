"""Sources -> what to fetch or extract.

* ``urls``, ``feed`` (RSS/Atom via feedparser) and ``sitemap`` (urlset, index,
  gzip) sources yield ``Candidate`` URLs for the fetch stage;
* ``files`` sources (HTML files, optionally gzipped, directories of them, WARC
  archives) yield ``Fetched`` pages straight from disk, streamed one at a time.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import feedparser
from lxml import etree
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .config import FeedSource, FilesSource, SitemapSource, Source, UrlsSource
from .errors import DiscoverError, FetchError
from .fetch import Fetcher
from .models import Candidate, Fetched, utc_now
from .normalise import canonicalise_url

HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
WARC_SUFFIXES = (".warc", ".warc.gz")
FEED_TYPES = ("application/", "text/")
SITEMAP_DEPTH = 3
MAX_DECOMPRESSED = 50_000_000
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _is_html_file(path: Path) -> bool:
    return path.name.lower().endswith(HTML_SUFFIXES)


def _is_warc_file(path: Path) -> bool:
    return path.name.lower().endswith(WARC_SUFFIXES)


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompressed gzip data, refusing anything that inflates past ``limit``."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DiscoverError(f"corrupt gzip data: {exc}") from exc
    if len(out) > limit:
        raise DiscoverError(f"gzip data inflates past {limit} bytes")
    return out


def iter_input_files(path: Path) -> Iterator[Path]:
    """HTML and WARC files at ``path`` (a file or a directory, walked in order)."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and (_is_html_file(child) or _is_warc_file(child)):
                yield child
    elif path.is_file():
        yield path
    else:
        raise DiscoverError(f"no such file or directory: {path}")


def iter_pages(
    path: Path,
    source: str = "files",
    max_bytes: int = MAX_DECOMPRESSED,
    on_error: Callable[[str, DiscoverError], None] | None = None,
) -> Iterator[Fetched]:
    """Pages stored at ``path``, streamed: HTML files (``.gz`` too) and WARC responses.

    With ``on_error``, an unreadable file is reported and skipped instead of raised.
    """
    for file in iter_input_files(path):
        try:
            if _is_warc_file(file):
                yield from iter_warc(file, source)
            else:
                yield _read_html_file(file, source, max_bytes)
        except DiscoverError as exc:
            if on_error is None:
                raise
            on_error(str(file), exc)


def _read_html_file(file: Path, source: str, max_bytes: int) -> Fetched:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DiscoverError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if file.name.lower().endswith(".gz"):
        data = gunzip(data, max_bytes)
    return Fetched(url=file.resolve().as_uri(), source=source, body=data)


def iter_warc(file: Path, source: str = "files") -> Iterator[Fetched]:
    """HTTP 200 HTML responses of a WARC file, with their target URIs."""
    try:
        with file.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                status = record.http_headers.get_statuscode()
                ctype = (record.http_headers.get_header("Content-Type") or "").lower()
                if status != "200" or (ctype and "html" not in ctype):
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI") or file.as_uri()
                date = record.rec_headers.get_header("WARC-Date")
                yield Fetched(
                    url=url,
                    source=source,
                    body=record.content_stream().read(),
                    content_type=ctype.split(";")[0] or None,
                    encoding=_charset(ctype),
                    fetched_at=date or utc_now(),
                )
    except (ArchiveLoadFailed, OSError, ValueError, EOFError, zlib.error) as exc:
        raise DiscoverError(f"cannot read WARC {file}: {exc}") from exc


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "charset" and value.strip():
            return value.strip().strip("'\"")
    return None


async def candidates(source: Source, fetcher: Fetcher) -> AsyncIterator[Candidate]:
    """Candidate URLs of a web source, canonicalised and without repeats."""
    seen: set[str] = set()
    count = 0
    async for url in _source_urls(source, fetcher):
        url = canonicalise_url(url)
        if url in seen or not url.startswith(("http://", "https://")):
            continue
        seen.add(url)
        yield Candidate(url=url, source=source.name, allow_private=source.allow_private)
        count += 1
        if source.max_items and count >= source.max_items:
            return


async def _source_urls(source: Source, fetcher: Fetcher) -> AsyncIterator[str]:
    if isinstance(source, UrlsSource):
        for url in source.urls:
            yield url
    elif isinstance(source, FeedSource):
        for url in await feed_urls(source, fetcher):
            yield url
    elif isinstance(source, SitemapSource):
        async for url in sitemap_urls(source.url, source, fetcher, SITEMAP_DEPTH):
            yield url
    elif isinstance(source, FilesSource):
        raise DiscoverError("files sources are read with iter_pages, not fetched")


async def _get(url: str, source: Source, fetcher: Fetcher) -> bytes:
    try:
        fetched = await fetcher.get(url, source.name, source.allow_private, FEED_TYPES)
    except FetchError as exc:
        raise DiscoverError(f"{source.name}: cannot fetch {url}: {exc}") from exc
    body = fetched.body
    return gunzip(body) if body[:2] == b"\x1f\x8b" else body


async def feed_urls(source: FeedSource, fetcher: Fetcher) -> list[str]:
    """Entry links of an RSS or Atom feed, made absolute."""
    body = await _get(source.url, source, fetcher)
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": source.url})
    if parsed.bozo and not parsed.entries:
        raise DiscoverError(f"{source.name}: not a feed: {parsed.get('bozo_exception')}")
    links = []
    for entry in parsed.entries:
        link = entry.get("link") or entry.get("id")
        if isinstance(link, str) and link:
            links.append(urljoin(source.url, link.strip()))
    return links


_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, recover=True
)


async def sitemap_urls(
    url: str, source: SitemapSource, fetcher: Fetcher, depth: int
) -> AsyncIterator[str]:
    """Page URLs of a sitemap, following sitemap indexes ``depth`` levels deep."""
    body = await _get(url, source, fetcher)
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DiscoverError(f"{source.name}: bad sitemap XML at {url}: {exc}") from exc
    if root is None:
        raise DiscoverError(f"{source.name}: empty sitemap at {url}")
    locs = [
        urljoin(url, (loc.text or "").strip())
        for loc in root.iter(f"{_SITEMAP_NS}loc", "loc")
        if (loc.text or "").strip()
    ]
    if etree.QName(root).localname == "sitemapindex":
        if depth <= 0:
            return
        for child in locs:
            async for page in sitemap_urls(child, source, fetcher, depth - 1):
                yield page
    else:
        for loc in locs:
            yield loc
