"""Sources -> what to fetch or extract.

* ``urls``, ``feed`` (RSS/Atom via feedparser, JSON Feed), ``sitemap`` (urlset,
  index, gzip, Google News, or the sitemaps a robots.txt lists) and ``listing``
  (links on section pages, with pagination) sources yield ``Candidate`` URLs for
  the fetch stage, dated when the source says when the item changed;
* ``files`` sources (HTML files, optionally gzipped, directories of them, WARC
  archives) yield ``Fetched`` pages straight from disk, streamed one at a time.
"""

from __future__ import annotations

import io
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree
from selectolax.lexbor import LexborHTMLParser, LexborNode
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .config import FeedSource, FilesSource, ListingSource, SitemapSource, Source, UrlsSource
from .errors import DiscoverError, FetchError
from .extract import decode_html
from .fetch import HTML_TYPES, Deferred, Fetcher
from .models import Candidate, Fetched, utc_now
from .normalise import canonicalise_url

HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
WARC_SUFFIXES = (".warc", ".warc.gz")
FEED_TYPES = ("application/", "text/")
SITEMAP_DEPTH = 3
MAX_DECOMPRESSED = 50_000_000


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
    if not inflater.eof:
        raise DiscoverError("truncated gzip data")
    return out


def iter_input_files(path: Path) -> Iterator[Path]:
    """HTML and WARC files at ``path`` (a file or a directory, walked in order)."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and (_is_html_file(child) or _is_warc_file(child)):
                yield child
    elif path.is_file():
        yield path
    elif path.exists():
        raise DiscoverError(f"not a regular file or directory: {path}")
    else:
        raise DiscoverError(f"no such file or directory: {path}")


def iter_pages(
    path: Path,
    source: str = "files",
    max_bytes: int = MAX_DECOMPRESSED,
    on_error: Callable[[str, DiscoverError], None] | None = None,
    since: datetime | None = None,
) -> Iterator[Fetched]:
    """Pages stored at ``path``, streamed: HTML files (``.gz`` too) and WARC responses.

    With ``on_error``, an unreadable file is reported and skipped instead of raised.
    With ``since``, HTML files last modified and WARC records captured before it
    are skipped.
    """
    for file in iter_input_files(path):
        try:
            if _is_warc_file(file):
                for page in iter_warc(file, source):
                    if since is None or page.fetched_at >= since:
                        yield page
            elif since is None or _mtime(file) >= since:
                yield _read_html_file(file, source, max_bytes)
        except DiscoverError as exc:
            if on_error is None:
                raise
            on_error(str(file), exc)


def _mtime(file: Path) -> datetime:
    try:
        return datetime.fromtimestamp(file.stat().st_mtime, UTC)
    except OSError as exc:
        raise DiscoverError(f"cannot read {file}: {exc.strerror or exc}") from exc


def _read_html_file(file: Path, source: str, max_bytes: int) -> Fetched:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DiscoverError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if file.name.lower().endswith(".gz"):
        try:
            data = gunzip(data, max_bytes)
        except DiscoverError as exc:
            raise DiscoverError(f"{file}: {exc}") from exc
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
    """Candidate URLs of a web source: canonicalised, without repeats, passing the
    source's ``include``/``exclude`` patterns and not older than its cutoff."""
    seen: set[str] = set()
    count = 0
    cutoff = source.cutoff(utc_now())
    async for url, modified in _source_urls(source, fetcher, cutoff):
        url = canonicalise_url(url)
        if url in seen or not url.startswith(("http://", "https://")) or not source.wants(url):
            continue
        if cutoff and modified and modified < cutoff:
            continue
        seen.add(url)
        yield Candidate(
            url=url, source=source.name, allow_private=source.allow_private, modified=modified
        )
        count += 1
        if source.max_items and count >= source.max_items:
            return


Dated = tuple[str, datetime | None]


async def _source_urls(
    source: Source, fetcher: Fetcher, cutoff: datetime | None
) -> AsyncIterator[Dated]:
    if isinstance(source, UrlsSource):
        for url in source.urls:
            yield url, None
    elif isinstance(source, FeedSource):
        for item in await feed_urls(source, fetcher):
            yield item
    elif isinstance(source, SitemapSource):
        roots = [source.url]
        if urlsplit(source.url).path == "/robots.txt":
            roots = await robots_sitemaps(source, fetcher)
        for root in roots:
            async for item in sitemap_urls(root, source, fetcher, SITEMAP_DEPTH, cutoff):
                yield item
    elif isinstance(source, ListingSource):
        async for url in listing_urls(source, fetcher):
            yield url, None
    elif isinstance(source, FilesSource):
        raise DiscoverError("files sources are read with iter_pages, not fetched")


async def _get(
    url: str, source: Source, fetcher: Fetcher, accept: tuple[str, ...] = FEED_TYPES
) -> Fetched:
    try:
        fetched = await fetcher.get(url, source.name, source.allow_private, accept)
    except Deferred:
        raise  # the host asked to be left alone for now: not a broken source
    except FetchError as exc:
        raise DiscoverError(f"{source.name}: cannot fetch {url}: {exc}") from exc
    if fetched.body[:2] == b"\x1f\x8b":
        try:
            fetched.body = gunzip(fetched.body)
        except DiscoverError as exc:
            raise DiscoverError(f"{source.name}: {url}: {exc}") from exc
    return fetched


def parse_date(value: object) -> datetime | None:
    """An aware datetime from an ISO-8601 / RFC 822 string or a UTC struct_time."""
    if isinstance(value, time.struct_time):
        return datetime(*value[:6], tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def feed_urls(source: FeedSource, fetcher: Fetcher) -> list[Dated]:
    """Entry links of an RSS, Atom or JSON feed, made absolute, with their dates."""
    body = (await _get(source.url, source, fetcher)).body
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return json_feed_urls(body, source)
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": source.url})
    if parsed.bozo and not parsed.entries:
        raise DiscoverError(f"{source.name}: not a feed: {parsed.get('bozo_exception')}")
    links: list[Dated] = []
    for entry in parsed.entries:
        link = entry.get("link") or _url_id(entry.get("id"))
        if isinstance(link, str) and link:
            # feedparser maps a missing "updated" to "published" with a warning; keys() does not.
            key = "updated_parsed" if "updated_parsed" in entry.keys() else "published_parsed"  # noqa: SIM118
            date = entry.get(key)
            links.append((urljoin(source.url, link.strip()), parse_date(date)))
    return links


def json_feed_urls(body: bytes, source: FeedSource) -> list[Dated]:
    """Item links of a JSON Feed (https://jsonfeed.org), which feedparser does not read."""
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise DiscoverError(f"{source.name}: not a feed: bad JSON: {exc}") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise DiscoverError(f"{source.name}: not a feed: JSON without an items list")
    links: list[Dated] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or _url_id(item.get("id"))
        if isinstance(link, str) and link.strip():
            date = item.get("date_modified") or item.get("date_published")
            links.append((urljoin(source.url, link.strip()), parse_date(date)))
    return links


def _url_id(value: object) -> str | None:
    """An item id that is an absolute http(s) URL; other ids (``12345``, ``tag:``)
    name the item without locating it."""
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        return value
    return None


_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, recover=True
)


def _child_text(element: etree._Element, name: str, deep: bool = False) -> str:
    """Text of the first child (any descendant if ``deep``) named ``name``, in any namespace."""
    for child in element.iter(f"{{*}}{name}") if deep else element.iterchildren(f"{{*}}{name}"):
        return (child.text or "").strip()
    return ""


async def robots_sitemaps(source: SitemapSource, fetcher: Fetcher) -> list[str]:
    """The ``Sitemap:`` lines of a robots.txt (fetched once per host per run)."""
    try:
        robots = await fetcher.robots(source.url, source.allow_private, source.name)
    except Deferred:
        raise
    except FetchError as exc:
        raise DiscoverError(f"{source.name}: cannot fetch {source.url}: {exc}") from exc
    sitemaps = [urljoin(source.url, url) for url in robots.sitemaps]
    if not sitemaps:
        raise DiscoverError(f"{source.name}: {source.url} lists no sitemaps")
    return sitemaps


async def sitemap_urls(
    url: str, source: SitemapSource, fetcher: Fetcher, depth: int, cutoff: datetime | None
) -> AsyncIterator[Dated]:
    """Page URLs of a sitemap with their dates (Google News ``publication_date``,
    else ``lastmod``), following sitemap indexes ``depth`` levels deep and skipping
    child sitemaps last modified before ``cutoff``."""
    body = (await _get(url, source, fetcher)).body
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DiscoverError(f"{source.name}: bad sitemap XML at {url}: {exc}") from exc
    if root is None:
        raise DiscoverError(f"{source.name}: empty sitemap at {url}")
    is_index = etree.QName(root).localname == "sitemapindex"
    entries = []
    for entry in root.iterchildren("{*}sitemap" if is_index else "{*}url"):
        loc = _child_text(entry, "loc")
        if loc:
            news = _child_text(entry, "publication_date", deep=True)
            date = news or _child_text(entry, "lastmod")
            entries.append((urljoin(url, loc), parse_date(date)))
    if not is_index:
        for entry in entries:
            yield entry
        return
    if depth <= 0:
        return
    for child, modified in entries:
        if cutoff and modified and modified < cutoff:
            continue
        async for page in sitemap_urls(child, source, fetcher, depth - 1, cutoff):
            yield page


async def listing_urls(source: ListingSource, fetcher: Fetcher) -> AsyncIterator[str]:
    """Links matching ``link_selector`` on a section page, following the ``follow``
    link to the next page up to ``max_pages`` pages."""
    url: str | None = source.url
    visited: set[str] = set()
    while url and len(visited) < source.max_pages:
        if (key := canonicalise_url(url)) in visited:
            return
        visited.add(key)
        page = await _get(url, source, fetcher, HTML_TYPES)
        tree = LexborHTMLParser(decode_html(page.body, page.encoding))
        base = urljoin(page.url, _href(tree.css_first("base[href]")) or "")
        for link in tree.css(source.link_selector):
            href = _href(link)
            if href and not href.startswith("#"):  # "#" links point back at the listing
                yield urljoin(base, href)
        url = None
        if source.follow and (href := _href(tree.css_first(source.follow))):
            url = canonicalise_url(urljoin(base, href))
            if not url.startswith(("http://", "https://")):
                url = None  # a javascript: "load more" button, say


def _href(node: LexborNode | None) -> str | None:
    href = node.attributes.get("href") if node is not None else None
    return href.strip() if href and href.strip() else None
