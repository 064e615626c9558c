"""Sources -> what to fetch or extract.

* ``urls``, ``feed`` (RSS/Atom via feedparser, JSON Feed), ``sitemap`` (urlset,
  index, gzip, Google News, or the sitemaps a robots.txt lists) and ``listing``
  (links on section pages, with pagination) sources yield ``Candidate`` URLs for
  the fetch stage, dated when the source says when the item changed;
* ``files`` sources (HTML files, optionally gzipped, directories of them, WARC
  archives) yield ``Fetched`` pages straight from disk, streamed one at a time.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree
from selectolax.lexbor import LexborHTMLParser, LexborNode
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from .config import (
    FeedSource,
    FetchConfig,
    FilesSource,
    ListingSource,
    SitemapSource,
    Source,
    UrlsSource,
)
from .errors import DiscoverError, FetchError
from .extract import decode_html
from .fetch import HTML_TYPES, Deferred, Fetcher
from .models import Candidate, FeedOrigin, Fetched, utc_now
from .normalise import canonicalise_url, normalise_space

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# warcio logs the target URIs it repairs (spaces); a repaired URI is no damage.
logging.getLogger("warcio").setLevel(logging.ERROR)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
WARC_SUFFIXES = (".warc", ".warc.gz")
FEED_TYPES = ("application/", "text/")
SITEMAP_DEPTH = 3
UNREAD_COUNTED = 10_000
# Every page and sitemap, from the web or from disk, is capped at ``fetch.max_bytes``.
DEFAULT_MAX_BYTES: int = FetchConfig.model_fields["max_bytes"].default
READ_BLOCK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b"
WARC_MAGIC = b"WARC/"
HTTP_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], verify=False)

T = TypeVar("T")
OnError = Callable[[str, DiscoverError], None]
OnSkip = Callable[[str], None]


def _is_html_file(path: Path) -> bool:
    return path.name.lower().endswith(HTML_SUFFIXES)


def _is_warc_file(path: Path) -> bool:
    return path.name.lower().endswith(WARC_SUFFIXES)


class GzipMembers(io.RawIOBase):
    """The inflated bytes of every member of a gzip stream (zero padding between
    members allowed), a bounded amount per read. A stream that ends inside a member
    raises ``DiscoverError`` ``truncated``; bad data raises it ``corrupt``."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        room = memoryview(buffer).cast("B")
        while room.nbytes:
            if self.inflater.eof and self.pending:
                self.pending = self.pending.lstrip(b"\0")
                if self.pending:
                    self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            if not self.pending:
                self.pending = self.stream.read(READ_BLOCK)
                if not self.pending:
                    if self.inflater.eof:
                        return 0
                    raise DiscoverError("truncated gzip data", "truncated")
            try:
                out = self.inflater.decompress(self.pending, room.nbytes)
            except zlib.error as exc:
                raise DiscoverError(f"corrupt gzip data: {exc}", "corrupt") from exc
            self.pending = self.inflater.unconsumed_tail or self.inflater.unused_data
            if out:
                room[: len(out)] = out
                return len(out)
        return 0


def read_capped(stream: Readable, limit: int, what: str) -> bytes:
    """All of ``stream``, reading at most ``limit + 1`` bytes: more is ``too_large``."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise DiscoverError(f"{what} exceeds max_bytes ({limit})", "too_large")
    return data


def gunzip(data: bytes, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """Decompressed gzip data (every member), refusing anything that inflates past
    ``limit``."""
    return read_capped(_inflating(io.BytesIO(data)), limit, "inflated gzip data")


def _inflating(stream: Readable) -> io.BufferedReader:
    return io.BufferedReader(GzipMembers(stream), READ_BLOCK)


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
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: OnError | None = None,
    since: datetime | None = None,
    wants: Callable[[str], bool] | None = None,
    on_skip: OnSkip | None = None,
) -> Generator[Fetched, None, None]:
    """Pages stored at ``path``, streamed: HTML files (``.gz`` too) and the HTML
    responses of WARC files, each at most ``max_bytes``.

    With ``on_error``, a file or record that cannot be read is reported (where: the
    file, or the record's URI) and skipped instead of raised. ``on_skip`` is told
    the reason of each WARC record that is not a page (``not_response``,
    ``not_http``, ``not_200``, ``not_html``). With ``since``, HTML files last
    modified and WARC records captured before it are skipped; with ``wants``, pages
    whose URL it refuses.
    """
    for file in iter_input_files(path):
        try:
            if _is_warc_file(file):
                yield from iter_warc(
                    file, source, max_bytes, on_error, since=since, wants=wants, on_skip=on_skip
                )
                continue
            url = file.resolve().as_uri()
            if (wants is None or wants(url)) and (since is None or _mtime(file) >= since):
                yield _read_html_file(file, url, source, max_bytes)
        except DiscoverError as exc:
            if on_error is None:
                raise
            on_error(str(file), exc)


def _mtime(file: Path) -> datetime:
    try:
        return datetime.fromtimestamp(file.stat().st_mtime, UTC)
    except OSError as exc:
        raise DiscoverError(f"cannot read: {exc.strerror or exc}", "unreadable") from exc


def _read_html_file(file: Path, url: str, source: str, max_bytes: int) -> Fetched:
    """The file's bytes; its size is checked before reading and a ``.gz`` file is
    inflated with the same cap, so no file costs more than ``max_bytes``."""
    try:
        with file.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > max_bytes and not file.name.lower().endswith(".gz"):
                raise DiscoverError(
                    f"file of {size} bytes exceeds max_bytes ({max_bytes})", "too_large"
                )
            if file.name.lower().endswith(".gz"):
                data = read_capped(_inflating(stream), max_bytes, "inflated file")
            else:
                data = read_capped(stream, max_bytes, "file")
    except OSError as exc:
        raise DiscoverError(f"cannot read: {exc.strerror or exc}", "unreadable") from exc
    return Fetched(url=url, source=source, body=data)


def iter_warc(
    file: Path,
    source: str = "files",
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: OnError | None = None,
    *,
    since: datetime | None = None,
    wants: Callable[[str], bool] | None = None,
    on_skip: OnSkip | None = None,
) -> Iterator[Fetched]:
    """The HTTP 200 HTML responses of a WARC file (gzipped or not, every gzip
    member), with their target URIs, whatever their scheme.

    A record over ``max_bytes`` (or whose body is damaged) is reported to
    ``on_error`` and skipped; without it, raised. A file that is not a WARC, is
    truncated or is damaged past a record raises ``DiscoverError``: the records
    before the damage have been yielded. Records that are not pages go to
    ``on_skip`` with their reason.
    """
    try:
        with file.open("rb") as raw:
            records = _Records(_OneReadAtATime(_warc_stream(raw)))
            while (record := records.next_record()) is not None:
                reason = _skip_reason(record)
                page = None
                try:
                    if reason is None:
                        page = _warc_page(record, file, source, max_bytes, since, wants)
                except DiscoverError as exc:
                    if on_error is None or exc.reason == "truncated":
                        raise
                    on_error(_target(record, file), exc)
                _drain(record, file)
                if reason is not None and on_skip is not None:
                    on_skip(reason)
                if page is not None:
                    yield page
    except OSError as exc:
        raise DiscoverError(f"cannot read: {exc.strerror or exc}", "unreadable") from exc


def _warc_stream(raw: io.BufferedReader) -> io.BufferedReader:
    """The uncompressed WARC bytes of a file (gzipped or not, whatever its name),
    checked to start like a WARC."""
    stream = _inflating(raw) if raw.peek(2)[:2] == GZIP_MAGIC else raw
    start = stream.peek(len(WARC_MAGIC))[: len(WARC_MAGIC)]
    if start != WARC_MAGIC:
        shown = f"starts with {start!r}" if start else "empty"
        raise DiscoverError(f"not a WARC file ({shown})", "not_warc")
    return stream


class _OneReadAtATime:
    """A buffered stream whose ``read`` returns what one read of the stream under it
    gives, so the bytes before a damaged or cut gzip member reach warcio before the
    error does; ``ended`` tells whether the end of the stream was reached."""

    def __init__(self, stream: io.BufferedReader) -> None:
        self.stream = stream
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read1(size)
        self.ended = self.ended or (size != 0 and not data)
        return data


class _Records(ArchiveIterator):
    """warcio's record iterator, made to report the damage it passes over: it takes
    a record whose headers are cut short for the end of the archive, and prints
    (instead of raising) a record not followed by its blank lines."""

    def __init__(self, stream: _OneReadAtATime) -> None:
        super().__init__(stream)
        self.stream = stream

    def _next_record(self, next_line: bytes | None) -> ArcWarcRecord:
        try:
            return super()._next_record(next_line)
        except EOFError as exc:
            if next_line or self.record is None:  # a record had begun
                message = "truncated: the file ends inside a record"
                raise DiscoverError(message, "truncated") from exc
            raise

    def next_record(self) -> ArcWarcRecord | None:
        try:
            record, printed = _quiet(lambda: next(self, None))
        except DiscoverError:
            raise
        except Exception as exc:  # warcio fails on hostile input in many ways
            reason = "truncated" if self.stream.ended else "corrupt"
            raise DiscoverError(f"damaged WARC: {_one_line(str(exc))}", reason) from exc
        if printed:
            raise DiscoverError(f"damaged WARC: {_one_line(printed)}", "corrupt")
        if record is not None and not _complete_headers(record):
            reason = "truncated" if self.stream.ended else "corrupt"
            raise DiscoverError("damaged WARC: a record without its type or length", reason)
        return record


def _complete_headers(record: ArcWarcRecord) -> bool:
    """Whether a record has the headers every WARC record must have (warcio reads
    headers cut short by the end of the file as if they were all there)."""
    length = record.rec_headers.get_header("Content-Length") or ""
    return bool(record.rec_headers.get_header("WARC-Type")) and length.strip().isdigit()


def _quiet(call: Callable[[], T]) -> tuple[T, str]:
    """``call()`` with what warcio prints to stderr captured: it prints some
    damage (a record not followed by its blank lines, a bad gzip body) instead of
    raising it."""
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        result = call()
    return result, printed.getvalue()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _skip_reason(record: ArcWarcRecord) -> str | None:
    """Why a record is not a page, or None when it is an HTTP 200 HTML response.

    warcio reads HTTP headers only under an http(s) target URI; a response whose
    payload says it is HTTP (``application/http``) is read under any URI."""
    if record.rec_type != "response":
        return "not_response"
    if record.http_headers is None:
        if not (record.content_type or "").lower().startswith("application/http"):
            return "not_http"
        try:
            record.http_headers = HTTP_PARSER.parse(record.raw_stream)
        except (StatusAndHeadersParserException, EOFError, ValueError):
            return "not_http"
    if record.http_headers.get_statuscode() != "200":
        return "not_200"
    ctype = (record.http_headers.get_header("Content-Type") or "").lower()
    return "not_html" if ctype and "html" not in ctype else None


def _target(record: ArcWarcRecord, file: Path) -> str:
    return record.rec_headers.get_header("WARC-Target-URI") or file.as_uri()


def _warc_page(
    record: ArcWarcRecord,
    file: Path,
    source: str,
    max_bytes: int,
    since: datetime | None,
    wants: Callable[[str], bool] | None,
) -> Fetched | None:
    """The page of an HTML response, None when ``since`` or ``wants`` drop it."""
    url = _target(record, file)
    captured = parse_date(record.rec_headers.get_header("WARC-Date")) or utc_now()
    if (since is not None and captured < since) or (wants is not None and not wants(url)):
        return None
    raw = record.raw_stream.read(max_bytes + 1)
    what = f"record in {file}"
    if len(raw) <= max_bytes:
        _check_complete(record, file)
    else:
        raise DiscoverError(f"{what} exceeds max_bytes ({max_bytes})", "too_large")
    # The body is decoded (chunked, gzip) from the bytes already read, so it is
    # bounded too, whatever it inflates to.
    copy = ArcWarcRecord(
        record.format,
        record.rec_type,
        record.rec_headers,
        io.BytesIO(raw),
        record.http_headers,
        record.content_type,
        len(raw),
    )
    body, printed = _quiet(lambda: read_capped(copy.content_stream(), max_bytes, what))
    if printed:
        raise DiscoverError(f"{what}: damaged body: {_one_line(printed)}", "corrupt")
    ctype = (record.http_headers.get_header("Content-Type") or "").lower()
    return Fetched(
        url=url,
        source=source,
        body=body,
        content_type=ctype.split(";")[0].strip() or None,
        encoding=_charset(ctype),
        fetched_at=captured,
    )


def _drain(record: ArcWarcRecord, file: Path) -> None:
    """Read the rest of the record, a block at a time, and check that the file
    held all of it."""
    while record.raw_stream.read(READ_BLOCK):
        pass
    _check_complete(record, file)


def _check_complete(record: ArcWarcRecord, file: Path) -> None:
    """Call once the record's stream gave less than asked for: warcio's LimitReader
    still counts the bytes of the record's Content-Length not read, so a file that
    ended before them was cut."""
    if getattr(record.raw_stream, "limit", 0) > 0:
        raise DiscoverError(
            f"truncated: the file ends inside record {_target(record, file)}", "truncated"
        )


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "charset" and value.strip():
            return value.strip().strip("'\"")
    return None


def source_pages(
    source: FilesSource,
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_error: OnError | None = None,
    on_skip: OnSkip | None = None,
) -> Iterator[Fetched]:
    """Pages of a files source, as ``iter_pages`` reads them, that pass its
    ``include``/``exclude`` patterns and are not older than its cutoff, at most
    ``max_items``. The patterns see the page URL as web sources see theirs,
    canonicalised: a file's ``file://`` URI, a WARC record's target URI."""

    def wants(url: str) -> bool:
        return source.wants(canonicalise_url(url))

    cutoff = source.cutoff(utc_now())
    pages = iter_pages(source.path, source.name, max_bytes, on_error, cutoff, wants, on_skip)
    with contextlib.closing(pages):
        for count, page in enumerate(pages, 1):
            yield page
            if source.max_items and count >= source.max_items:
                return


async def candidates(
    source: Source, fetcher: Fetcher, on_error: OnError | None = None
) -> AsyncIterator[Candidate]:
    """Candidate URLs of a web source: canonicalised, without repeats, passing the
    source's ``include``/``exclude`` patterns and not older than its cutoff.

    With ``on_error``, a child sitemap that cannot be read, and the sitemaps left
    unread at the source's limits, are reported (where: the sitemap URL) and the
    others still read; without it, they are raised."""
    seen: set[str] = set()
    count = 0
    cutoff = source.cutoff(utc_now())
    async for found, modified, origin in _source_urls(source, fetcher, cutoff, on_error):
        url = canonicalise_url(found)
        if url in seen or not url.startswith(("http://", "https://")) or not source.wants(url):
            continue
        if cutoff and modified and modified < cutoff:
            continue
        seen.add(url)
        yield Candidate(
            url=url,
            source=source.name,
            allow_private=source.allow_private,
            modified=modified,
            origin=origin,
        )
        count += 1
        if source.max_items and count >= source.max_items:
            return


Dated = tuple[str, datetime | None]
# A discovered URL, its date and, for a feed item with a <source>, that source.
Found = tuple[str, datetime | None, FeedOrigin | None]


def _join(base: str, url: str) -> str:
    """``url`` made absolute against ``base``; a URL too broken for that is kept
    as it is, for the fetch stage to refuse as ``bad_url``."""
    try:
        return urljoin(base, url)
    except ValueError:
        return url


async def _source_urls(
    source: Source, fetcher: Fetcher, cutoff: datetime | None, on_error: OnError | None
) -> AsyncIterator[Found]:
    if isinstance(source, UrlsSource):
        for url in source.urls:
            yield url, None, None
    elif isinstance(source, FeedSource):
        for item in await feed_urls(source, fetcher):
            yield item
    elif isinstance(source, SitemapSource):
        walk = SitemapWalk(source, fetcher, cutoff, on_error)
        if urlsplit(source.url).path == "/robots.txt":
            for root in await robots_sitemaps(source, fetcher):
                walk.add(root, SITEMAP_DEPTH)
        else:
            walk.root = source.url
            walk.add(source.url, SITEMAP_DEPTH)
        async for url, date in walk.urls():
            yield url, date, None
        walk.finish()
    elif isinstance(source, ListingSource):
        async for url in listing_urls(source, fetcher):
            yield url, None, None
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
        reason = "too_large" if exc.reason == "too_large" else "discover"
        raise DiscoverError(f"{source.name}: cannot fetch {url}: {exc}", reason) from exc
    if fetched.body[:2] == GZIP_MAGIC:
        try:
            fetched.body = gunzip(fetched.body, fetcher.config.max_bytes)
        except DiscoverError as exc:
            raise DiscoverError(f"{source.name}: {url}: {exc}", exc.reason) from exc
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


async def feed_urls(source: FeedSource, fetcher: Fetcher) -> list[Found]:
    """Entry links of an RSS, Atom or JSON feed, made absolute, with their dates and
    the publisher an entry's ``<source>`` names."""
    body = (await _get(source.url, source, fetcher)).body
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return json_feed_urls(body, source)
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": source.url})
    if parsed.bozo and not parsed.entries:
        raise DiscoverError(f"{source.name}: not a feed: {parsed.get('bozo_exception')}")
    links: list[Found] = []
    for entry in parsed.entries:
        link = entry.get("link") or _url_id(entry.get("id"))
        if isinstance(link, str) and link:
            # feedparser maps a missing "updated" to "published" with a warning; keys() does not.
            key = "updated_parsed" if "updated_parsed" in entry.keys() else "published_parsed"  # noqa: SIM118
            date = entry.get(key)
            links.append((_join(source.url, link.strip()), parse_date(date), _origin(entry)))
    return links


def _origin(entry: Any) -> FeedOrigin | None:
    """The publisher an RSS ``<source url="...">Name</source>`` (or Atom
    ``<source>``) credits for an entry."""
    origin = entry.get("source")
    if not isinstance(origin, dict):
        return None
    name = origin.get("title") or origin.get("value") or ""
    url = origin.get("href") or origin.get("url")
    name = normalise_space(name) if isinstance(name, str) else ""
    url = url.strip() if isinstance(url, str) and url.strip().startswith("http") else None
    return FeedOrigin(name=name[:200], url=url) if name or url else None


def json_feed_urls(body: bytes, source: FeedSource) -> list[Found]:
    """Item links of a JSON Feed (https://jsonfeed.org), which feedparser does not read."""
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise DiscoverError(f"{source.name}: not a feed: bad JSON: {exc}") from exc
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise DiscoverError(f"{source.name}: not a feed: JSON without an items list")
    links: list[Found] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or _url_id(item.get("id"))
        if isinstance(link, str) and link.strip():
            date = item.get("date_modified") or item.get("date_published")
            links.append((_join(source.url, link.strip()), parse_date(date), None))
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
    sitemaps = [_join(source.url, url) for url in robots.sitemaps]
    if not sitemaps:
        raise DiscoverError(f"{source.name}: {source.url} lists no sitemaps")
    return sitemaps


def sitemap_entries(body: bytes, url: str, name: str) -> tuple[bool, list[Dated]]:
    """Whether a sitemap is an index, and its entries (child sitemaps or page URLs)
    made absolute, with their dates (Google News ``publication_date``, else
    ``lastmod``)."""
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DiscoverError(f"{name}: bad sitemap XML at {url}: {exc}") from exc
    if root is None:
        raise DiscoverError(f"{name}: empty sitemap at {url}")
    is_index = etree.QName(root).localname == "sitemapindex"
    entries = []
    for entry in root.iterchildren("{*}sitemap" if is_index else "{*}url"):
        loc = _child_text(entry, "loc")
        if loc:
            news = _child_text(entry, "publication_date", deep=True)
            date = news or _child_text(entry, "lastmod")
            entries.append((_join(url, loc), parse_date(date)))
    return is_index, entries


@dataclass
class SitemapWalk:
    """The sitemap files of one source in one run, read breadth first so that each
    is read once, at its shallowest level: at most the source's ``max_files`` of
    them, indexes followed ``SITEMAP_DEPTH`` levels deep. A child that cannot be
    read is reported to ``on_error`` and skipped; the root's failure is raised."""

    source: SitemapSource
    fetcher: Fetcher
    cutoff: datetime | None
    on_error: OnError | None
    listed: set[str] = field(default_factory=set)
    queue: deque[tuple[str, int]] = field(default_factory=deque)
    root: str | None = None
    # Sitemaps listed but not read, by limit; the count is kept exact up to
    # UNREAD_COUNTED distinct sitemaps.
    past_max_files: set[str] = field(default_factory=set)
    too_deep: set[str] = field(default_factory=set)

    def add(self, url: str, depth: int) -> None:
        """Queue a sitemap to read, unless it was already, or the queue is full."""
        key = canonicalise_url(url)
        if key in self.listed:
            return
        if len(self.listed) >= self.source.max_files:
            _count_unread(self.past_max_files, key)
            return
        self.listed.add(key)
        self.queue.append((url, depth))

    async def urls(self) -> AsyncIterator[Dated]:
        """Page URLs of the queued sitemaps and of the children they list, skipping
        children last modified before the cutoff."""
        while self.queue:
            url, depth = self.queue.popleft()
            try:
                fetched = await _get(url, self.source, self.fetcher)
                is_index, entries = sitemap_entries(fetched.body, url, self.source.name)
            except DiscoverError as exc:
                if url == self.root:
                    raise
                self._report(url, DiscoverError(str(exc), _child_reason(exc)))
                continue
            if not is_index:
                for entry in entries:
                    yield entry
                continue
            for child, modified in entries:
                if self.cutoff and modified and modified < self.cutoff:
                    continue
                if depth > 0:
                    self.add(child, depth - 1)
                elif (key := canonicalise_url(child)) not in self.listed:
                    _count_unread(self.too_deep, key)

    def finish(self) -> None:
        """Report the sitemaps left unread at the limits, once per source."""
        limits = (
            (self.past_max_files, f"max_files {self.source.max_files} reached"),
            (self.too_deep, f"indexes nested more than {SITEMAP_DEPTH} deep"),
        )
        for unread, why in limits:
            if unread:
                count = f"{len(unread)}{'+' if len(unread) >= UNREAD_COUNTED else ''}"
                message = f"{self.source.name}: sitemaps not read: {count} ({why})"
                self._report(self.source.url, DiscoverError(message, "sitemap_limit"))

    def _report(self, url: str, exc: DiscoverError) -> None:
        if self.on_error is None:
            raise exc
        self.on_error(url, exc)


def _count_unread(unread: set[str], key: str) -> None:
    if len(unread) < UNREAD_COUNTED:
        unread.add(key)


def _child_reason(exc: DiscoverError) -> str:
    """A child sitemap's failure counts as ``sitemap``, unless it has a reason of
    its own (``too_large``, ``truncated``, ``corrupt``)."""
    return "sitemap" if exc.reason == "discover" else exc.reason


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
        base = _join(page.url, _href(tree.css_first("base[href]")) or "")
        for link in tree.css(source.link_selector):
            href = _href(link)
            if href and not href.startswith("#"):  # "#" links point back at the listing
                yield _join(base, href)
        url = None
        if source.follow and (href := _href(tree.css_first(source.follow))):
            url = canonicalise_url(_join(base, href))
            if not url.startswith(("http://", "https://")):
                url = None  # a javascript: "load more" button, say


def _href(node: LexborNode | None) -> str | None:
    href = node.attributes.get("href") if node is not None else None
    return href.strip() if href and href.strip() else None
